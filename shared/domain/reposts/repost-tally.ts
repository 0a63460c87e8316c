// The repost tally, the Reposts table's stream consumer: counts reposts exactly, has the spike
// detector judge the seconds that ended, and sends the live counts; and the sweep that ends spikes
// after their wave when nothing else judges.
import { attempts } from '../../retry';
import type { Clock, EntryStore, Logger, RepostStore, StreamedRepost } from '../ports';
import type { StatsPublisher } from '../stats-publisher';
import { detectSpikes, type Spike, type SpikeRules, defaultSpikeRules } from './spike-detector';

export interface TallyDeps {
  reposts: RepostStore;
  /** Where spike frames join the change log, and so reach every viewer through delivery. */
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
 * The Reposts stream consumer of one container (functions/lib/container.ts builds it): what it
 * remembers between batches is a hint per event, never needed for a right answer.
 */
export class RepostTally {
  /** Per event, how far this tally last had the detector judge, and whether a spike was open (a hint: judging again is harmless). */
  private readonly judged = new Map<string, { through: number; open: boolean }>();

  constructor(
    private readonly deps: TallyDeps,
    /** The live counts: each batch's changed totals go out through it. */
    private readonly stats: StatsPublisher,
  ) {}

  /**
   * The stream consumer's work for one event: counts the new reposts exactly, then lets the spike
   * detector judge every second the tally has seen the end of — those before the newest repost's
   * second (the stream hands reposts over in order), however far the tally lags behind the clock.
   * Returns the spikes that started or ended.
   */
  async tally(eventId: string, reposts: readonly StreamedRepost[]): Promise<{ counted: number; spikes: Spike[] }> {
    const { deps, judged } = this;
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
    await this.stats.publish(eventId, new Set(reposts.map((r) => r.seq)));
    return { counted, spikes };
  }
}

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
  // No wait between judgements: a lost save means another judge's result stands, and judging again
  // from it is new work, not a retry into the same contention.
  for await (const _attempt of attempts({ tries: JUDGE_ATTEMPTS, immediate: JUDGE_ATTEMPTS })) {
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
  const exact = await Promise.all(latest.map(async (s) => (s.endedAt === null ? s : recount(eventId, s, deps))));
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
  // 'stale' only says another change took the next number; the append reads the event afresh, so it
  // goes again at once (as a reporter's write does its first retry).
  for await (const _attempt of attempts({ tries: 8, immediate: 8 })) {
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
