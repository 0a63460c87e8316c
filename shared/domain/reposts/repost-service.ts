// Reposts: any connected viewer reposts an entry; it counts once per viewer (a signed viewer id, or
// for a client without one its address) per seq.
import type { Caller } from '../live-service';
import { conflict, notFound } from '../errors';
import type { Clock, EntryStore, Logger, RepostStore, StreamedRepost, ViewerCounts } from '../ports';
import type { RepostAckFrame, RepostFrame } from '../protocol';
import { detectSpikes, type Spike, type SpikeRules, defaultSpikeRules } from './spike-detector';
import { type RepostOrigin, sourceOf, voterOf } from './sources';

export interface RepostServiceDeps {
  entries: Pick<EntryStore, 'get'>;
  reposts: RepostStore;
  now: Clock;
  log: Logger;
  /**
   * How long this container trusts that an entry exists and is not deleted: a storm of reposts of
   * one entry would otherwise read that one item thousands of times a second. A delete is seen
   * this much later at most (a repost in that window counts, as if it came just before).
   */
  liveEntryCacheMs?: number;
}

export class RepostService {
  private readonly live = new Map<string, number>();
  private readonly cacheMs: number;

  constructor(private readonly deps: RepostServiceDeps) {
    this.cacheMs = deps.liveEntryCacheMs ?? 1_000;
  }

  /** `origin`: what the handshake proved (a viewer id) and where the connection comes from. */
  async repost(caller: Caller, frame: RepostFrame, origin: RepostOrigin = {}): Promise<RepostAckFrame> {
    const { eventId, connectionId } = caller;
    await this.requireLiveEntry(eventId, frame.seq);
    const outcome = await this.deps.reposts.add({
      eventId,
      seq: frame.seq,
      connectionId,
      at: this.deps.now(),
      voter: voterOf(origin, connectionId),
      source: sourceOf(origin),
    });
    return {
      type: 'ack',
      ...(frame.clientId ? { clientId: frame.clientId } : {}),
      seq: frame.seq,
      reposted: true,
      counted: outcome === 'counted',
    };
  }

  private async requireLiveEntry(eventId: string, seq: number): Promise<void> {
    const key = `${eventId}#${seq}`;
    const now = this.deps.now();
    if ((this.live.get(key) ?? 0) > now) return;
    const entry = await this.deps.entries.get(eventId, seq);
    if (!entry) throw notFound(`entry ${seq} does not exist in event ${eventId}`);
    if (entry.deleted) throw conflict(`entry ${seq} was deleted and cannot be reposted`);
    if (this.live.size > 10_000) this.live.clear();
    this.live.set(key, now + this.cacheMs);
  }
}

export interface TallyDeps {
  reposts: RepostStore;
  /** The viewer count the stats frames carry (counted from the Connections stream, off the event item). */
  viewers: Pick<ViewerCounts, 'count'>;
  /** Where stats and spike frames join the change log, and so reach every viewer through delivery. */
  entries: Pick<EntryStore, 'appendFrame'>;
  now: Clock;
  log: Logger;
  rules?: SpikeRules;
}

/**
 * Without a tally to say how far the stream has got (a read of the series), a second is judged
 * once it ended this long ago: a tally that lags behind a storm by more would have its seconds
 * judged short.
 */
export const QUIET_SETTLE_MS = 5_000;

const secondStart = (ms: number) => Math.floor(ms / 1000) * 1000;

/**
 * The stream consumer's work for one event: counts the new reposts exactly, then lets the spike
 * detector judge every second the tally has seen the end of — those before the newest repost's
 * second (the stream hands reposts over in order), however far the tally lags behind the clock.
 * Returns the spikes that started or ended.
 */
export async function tallyReposts(
  eventId: string,
  reposts: readonly StreamedRepost[],
  deps: TallyDeps,
): Promise<{ counted: number; spikes: Spike[] }> {
  const counted = await deps.reposts.tally(eventId, reposts);
  if (reposts.length === 0) return { counted, spikes: [] };
  const through = secondStart(reposts.reduce((max, r) => Math.max(max, r.at), 0)) - 1000;
  // A tally this far behind counts seconds a read or the sweep may have judged by the clock, and
  // so may have ended a spike short of these reposts: the judgement recounts it.
  const earliest = secondStart(reposts.reduce((min, r) => Math.min(min, r.at), Infinity));
  const late = earliest <= secondStart(deps.now() - QUIET_SETTLE_MS) - 1000 ? earliest : undefined;
  // Batches come several a second. While a spike is open nothing can start, and the detector has
  // work only when a second newly ended; otherwise every batch may be the one that starts a spike.
  const hint = judged.get(eventId);
  let spikes: Spike[] = [];
  if (late !== undefined || !(hint && hint.open && hint.through >= through)) {
    const result = await judgeSeconds(eventId, deps, through, late);
    if (judged.size > 1_000) judged.clear();
    judged.set(eventId, { through, open: result.open });
    spikes = result.spikes;
  }
  await publishStats(eventId, new Set(reposts.map((r) => r.seq)), deps);
  return { counted, spikes };
}

/** Live counts go out at most this often per event. */
export const STATS_INTERVAL_MS = 1_000;

/**
 * The most totals one stats line of the change log holds. A DynamoDB item is at most 400 KB; a total
 * costs at most 18 bytes of it (a 10-digit seq as the name, a 12-digit count as 7 bytes, 1 byte of
 * map overhead), so 8,000 take 144 KB at worst. Delivery splits a line into 32 KB frames anyway.
 */
export const MAX_STATS_SEQS_PER_LINE = 8_000;

/** Per event, the seqs whose totals changed since the last stats this container sent. */
const pendingStats = new Map<string, Set<number>>();

/**
 * Appends `stats` (viewers, and the totals of the seqs that changed) to the change log, at most
 * once a second per event: a tally that finds the last stats too recent waits out the rest of the
 * second once and sends then (so the last counts of a wave go out too); if another writer got there
 * first, the seqs wait for the next batch. More seqs than one line holds go out in lines that
 * follow at once (delivery merges the stats a viewer is owed, so they still cost one visit).
 */
export async function publishStats(
  eventId: string,
  changed: ReadonlySet<number>,
  deps: {
    reposts: Pick<RepostStore, 'totals'>;
    entries: Pick<EntryStore, 'appendFrame'>;
    viewers: Pick<ViewerCounts, 'count'>;
    now: Clock;
  },
  options: { viewersChanged?: boolean } = {},
): Promise<void> {
  const pending = pendingStats.get(eventId) ?? new Set<number>();
  for (const seq of changed) pending.add(seq);
  if (pendingStats.size > 1_000 && !pendingStats.has(eventId)) pendingStats.clear();
  pendingStats.set(eventId, pending);
  let waited = false;
  let owed = options.viewersChanged === true;
  /** A line went out in this call: the rest of the window follows it without the interval. */
  let continuing = false;
  for (let failures = 0; failures < 6 && (pending.size > 0 || owed);) {
    // Lowest seqs first: each line's totals are one short range read.
    const seqs = [...pending].sort((a, b) => a - b).slice(0, MAX_STATS_SEQS_PER_LINE);
    const totals =
      seqs.length > 0 ? await deps.reposts.totals(eventId, seqs[0]!, seqs.at(-1)!) : new Map<number, number>();
    const reposts = Object.fromEntries(seqs.map((s) => [String(s), totals.get(s) ?? 0]));
    // Read before the line is appended: a count that moves after it is owed a frame by the change that moved it.
    const viewers = await deps.viewers.count(eventId);
    const now = deps.now();
    const result = await deps.entries.appendFrame(
      eventId,
      () => ({ type: 'stats', eventId, viewers, reposts, at: new Date(now).toISOString() }),
      continuing ? { now } : { minIntervalMs: STATS_INTERVAL_MS, now },
    );
    if (result.appended) {
      for (const s of seqs) pending.delete(s);
      owed = false;
      continuing = true;
      continue;
    }
    failures++;
    if (result.reason === 'throttled') {
      if (waited) return;
      waited = true;
      await new Promise((r) => setTimeout(r, result.retryInMs));
    }
  }
}

/** Per event, how far this container's tally last had the detector judge, and whether a spike was open (a hint: judging again is harmless). */
const judged = new Map<string, { through: number; open: boolean }>();

/** Judgements in a row that may lose their save to another judge (tally, read, sweep) before one gives up. */
const JUDGE_ATTEMPTS = 4;

/** What one judgement found; `version` is the detector state's version it leaves (null if every save lost). */
export interface Judgement {
  spikes: Spike[];
  /** A spike is open: in the detector's state, or recorded early from a second not yet judged whole. */
  open: boolean;
  version: number | null;
}

/**
 * Feeds the seconds up to `through` (a second's start; default: those that ended QUIET_SETTLE_MS
 * ago) to the detector and saves what it found. When another judge saved first, its state stands
 * and this one judges again from it: what it saw (a tally's new seconds) is not dropped. `late`:
 * the earliest second of reposts a lagging tally has just counted (see tallyReposts).
 */
export async function judgeSeconds(
  eventId: string,
  deps: TallyDeps,
  through?: number,
  late?: number,
): Promise<Judgement> {
  let open = false;
  for (let attempt = 0; attempt < JUDGE_ATTEMPTS; attempt++) {
    const outcome = await judgeOnce(eventId, deps, through, late);
    if (outcome.version !== null) return outcome;
    open = outcome.open;
  }
  deps.log.warn('repost spike judgement kept losing to other judges; theirs stand', { eventId });
  return { spikes: [], open, version: null };
}

async function judgeOnce(eventId: string, deps: TallyDeps, through?: number, late?: number): Promise<Judgement> {
  const settledBefore = through ?? secondStart(deps.now() - QUIET_SETTLE_MS) - 1000;
  const rules = deps.rules ?? defaultSpikeRules;
  const { state, version } = await deps.reposts.detector(eventId);
  const stored = await deps.reposts.seconds(eventId, state.lastSecond ?? undefined);
  const seconds = stored.filter((s) => s.t <= settledBefore);
  // Judge up to the last settled second even when it had no reposts, so a spike can end in silence.
  if (
    seconds.at(-1)?.t !== settledBefore &&
    (state.lastSecond === null ? seconds.length > 0 : settledBefore > state.lastSecond)
  ) {
    seconds.push({ t: settledBefore, bySeq: {} });
  }
  const result = detectSpikes(state, seconds, rules);
  const events = [...result.events];
  // The second still going on: if what it holds so far already starts a spike, it is one — its
  // count can only grow, and the rule that judged it will judge the whole second the same way. The
  // spike is recorded now (a storm is seen within its first second); the detector's state moves
  // only when the second is whole, and then rewrites the spike with the whole second's numbers.
  const current = stored.find((s) => s.t === settledBefore + 1000);
  const early =
    current && !result.state.open
      ? detectSpikes(result.state, [current], rules).events.find(
          (e) => e.type === 'started' && e.spike.startedAt === current.t,
        )
      : undefined;
  if (early) events.push(early);
  // A spike recorded early is open until its second is judged whole, though the state has no
  // spike yet: the table shows it open, and only that judgement can end it. A judge that stops
  // short of that second (the sweep, 5 s behind the clock) must not call the event quiet.
  const pending = state.announced != null && state.announced > (result.state.lastSecond ?? -Infinity);
  const open = !!result.state.open || early !== undefined || pending;
  // Spikes already ended over seconds that a lagging tally has only now added reposts to.
  const stale =
    late !== undefined && state.lastSecond !== null && late <= state.lastSecond
      ? (await deps.reposts.spikes(eventId)).filter((s) => s.endedAt !== null && s.endedAt > late)
      : [];
  if (events.length === 0 && stale.length === 0 && result.state.lastSecond === state.lastSecond)
    return { spikes: [], open, version };
  // The last write of a spike wins: an 'ended' after a 'started' of the same spike in one pass.
  const latest = [...new Map([...stale, ...events.map((e) => e.spike)].map((s) => [s.startedAt, s])).values()];
  // The detector saw each second as far as the tally had got; a storm's stragglers land in their
  // seconds later. What is stored for an ended spike is recounted from the exact series.
  const exact = await Promise.all(latest.map((s) => (s.endedAt === null ? s : recount(eventId, s, deps))));
  // Each spike is announced once, when it starts: the state says which was, and only the tally
  // whose save wins announces.
  const started = events.filter((e) => e.type === 'started').at(-1)?.spike;
  const announce = started && started.startedAt !== state.announced ? started : undefined;
  const saved = { ...result.state, announced: announce ? announce.startedAt : (state.announced ?? null) };
  if (!(await deps.reposts.saveDetector(eventId, version, saved, exact))) return { spikes: [], open, version: null };
  for (const e of events) deps.log.info(`repost spike ${e.type}`, { eventId, ...e.spike });
  // The sweep ends it if no repost or read comes after its wave (functions/spike-sweep.ts).
  if (events.some((e) => e.type === 'started')) await deps.reposts.watchOpenSpike(eventId);
  if (announce) await announceSpike(eventId, announce, deps);
  return { spikes: exact, open, version: version + 1 };
}

/**
 * The sweep: judges every event with a spike open, as a read of the reposts would, and takes the
 * events whose spikes have all ended off the list. Returns how many were judged and ended.
 */
export async function sweepOpenSpikes(
  deps: TallyDeps,
  quietMs: number = SWEEP_QUIET_MS,
): Promise<{ judged: number; ended: number }> {
  let judged = 0;
  let ended = 0;
  for (const eventId of await deps.reposts.eventsWithOpenSpikes()) {
    try {
      // Reposts in the last minute: the tally is at work and judges as it counts. Judging here by
      // the clock could judge seconds a lagging tally has not finished counting, and end the
      // spike in the middle of its storm. Counted from a second's start: the series' key range
      // starts at one, and from `now - quietMs` itself it would skip the second that holds it.
      if ((await deps.reposts.seconds(eventId, secondStart(deps.now() - quietMs) - 1000)).length > 0) continue;
      judged++;
      const { open, version } = await judgeSeconds(eventId, deps);
      if (open || version === null) continue;
      await deps.reposts.unwatchOpenSpike(eventId);
      // A tally that saved a new spike after our judgement may have put the event on the list just
      // before we took it off: if the state moved meanwhile, the event stays on for the next sweep.
      if ((await deps.reposts.detector(eventId)).version !== version) {
        await deps.reposts.watchOpenSpike(eventId);
        continue;
      }
      ended++;
    } catch (err) {
      // One event's trouble does not keep the others' spikes open; it is tried again next time.
      deps.log.warn('could not sweep an open repost spike', { eventId, error: err });
    }
  }
  return { judged, ended };
}

/** The sweep leaves an event alone while its series has seconds this recent (LIVECAST_SPIKE_SWEEP_QUIET_MS). */
export const SWEEP_QUIET_MS = 60_000;

/** Puts a `spike` frame in the change log, so every viewer hears of it through delivery. */
async function announceSpike(eventId: string, spike: Spike, deps: TallyDeps): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const result = await deps.entries.appendFrame(eventId, () => ({ type: 'spike', eventId, ...spike }));
    if (result.appended) return;
  }
  deps.log.warn('could not announce a repost spike (the change log kept moving)', {
    eventId,
    startedAt: spike.startedAt,
  });
}

/** An ended spike's total, peak and top entry, from the stored per-second counts. */
async function recount(eventId: string, spike: Spike, deps: TallyDeps): Promise<Spike> {
  const seconds = (await deps.reposts.seconds(eventId, spike.startedAt - 1000)).filter(
    (s) => s.t < (spike.endedAt ?? Infinity),
  );
  const bySeq: Record<string, number> = {};
  let total = 0;
  let peak = 0;
  for (const s of seconds) {
    let count = 0;
    for (const [seq, n] of Object.entries(s.bySeq)) {
      bySeq[seq] = (bySeq[seq] ?? 0) + n;
      count += n;
    }
    total += count;
    peak = Math.max(peak, count);
  }
  const top = Object.entries(bySeq).sort(([a, x], [b, y]) => y - x || Number(a) - Number(b))[0];
  return { ...spike, total, peakPerSecond: peak, topSeq: top ? Number(top[0]) : spike.topSeq };
}
