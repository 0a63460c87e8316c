// Reposts: any connected viewer reposts an entry; it counts once per connection per seq.
import type { Caller } from '../live-service';
import { conflict, notFound } from '../errors';
import type { EntryStore, Logger, RepostStore, StreamedRepost } from '../ports';
import type { RepostAckFrame, RepostFrame } from '../protocol';
import { detectSpikes, type Spike, type SpikeRules, defaultSpikeRules } from './spike-detector';

export interface RepostServiceDeps {
  entries: Pick<EntryStore, 'get'>;
  reposts: RepostStore;
  now: () => number;
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

  async repost(caller: Caller, frame: RepostFrame): Promise<RepostAckFrame> {
    const { eventId, connectionId } = caller;
    await this.requireLiveEntry(eventId, frame.seq);
    const outcome = await this.deps.reposts.add({ eventId, seq: frame.seq, connectionId, at: this.deps.now() });
    return { type: 'ack', ...(frame.clientId ? { clientId: frame.clientId } : {}), seq: frame.seq, reposted: true, counted: outcome === 'counted' };
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
  now: () => number;
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
export async function tallyReposts(eventId: string, reposts: readonly StreamedRepost[], deps: TallyDeps): Promise<{ counted: number; spikes: Spike[] }> {
  const counted = await deps.reposts.tally(eventId, reposts);
  if (reposts.length === 0) return { counted, spikes: [] };
  const through = secondStart(reposts.reduce((max, r) => Math.max(max, r.at), 0)) - 1000;
  // Batches come several a second. While a spike is open nothing can start, and the detector has
  // work only when a second newly ended; otherwise every batch may be the one that starts a spike.
  const hint = judged.get(eventId);
  if (hint && hint.open && hint.through >= through) return { counted, spikes: [] };
  const result = await judgeSeconds(eventId, deps, through);
  if (judged.size > 1_000) judged.clear();
  judged.set(eventId, { through, open: result.open });
  return { counted, spikes: result.spikes };
}

/** Per event, how far this container's tally last had the detector judge, and whether a spike was open (a hint: judging again is harmless). */
const judged = new Map<string, { through: number; open: boolean }>();

/**
 * Feeds the seconds up to `through` (a second's start; default: those that ended QUIET_SETTLE_MS
 * ago) to the detector and saves what it found (unless another tally did meanwhile).
 */
export async function judgeSeconds(eventId: string, deps: TallyDeps, through?: number): Promise<{ spikes: Spike[]; open: boolean }> {
  const settledBefore = through ?? secondStart(deps.now() - QUIET_SETTLE_MS) - 1000;
  const rules = deps.rules ?? defaultSpikeRules;
  const { state, version } = await deps.reposts.detector(eventId);
  const stored = await deps.reposts.seconds(eventId, state.lastSecond ?? undefined);
  const seconds = stored.filter((s) => s.t <= settledBefore);
  // Judge up to the last settled second even when it had no reposts, so a spike can end in silence.
  if (seconds.at(-1)?.t !== settledBefore && (state.lastSecond === null ? seconds.length > 0 : settledBefore > state.lastSecond)) {
    seconds.push({ t: settledBefore, bySeq: {} });
  }
  const result = detectSpikes(state, seconds, rules);
  const events = [...result.events];
  // The second still going on: if what it holds so far already starts a spike, it is one — its
  // count can only grow, and the rule that judged it will judge the whole second the same way. The
  // spike is recorded now (a storm is seen within its first second); the detector's state moves
  // only when the second is whole, and then rewrites the spike with the whole second's numbers.
  const current = stored.find((s) => s.t === settledBefore + 1000);
  if (current && !result.state.open) {
    const early = detectSpikes(result.state, [current], rules).events.find((e) => e.type === 'started' && e.spike.startedAt === current.t);
    if (early) events.push(early);
  }
  const open = !!result.state.open || events.some((e) => e.type === 'started' && !result.events.includes(e));
  if (events.length === 0 && result.state.lastSecond === state.lastSecond) return { spikes: [], open };
  // The last write of a spike wins: an 'ended' after a 'started' of the same spike in one pass.
  const latest = [...new Map(events.map((e) => [e.spike.startedAt, e.spike])).values()];
  // The detector saw each second as far as the tally had got; a storm's stragglers land in their
  // seconds later. What is stored for an ended spike is recounted from the exact series.
  const exact = await Promise.all(latest.map((s) => (s.endedAt === null ? s : recount(eventId, s, deps))));
  if (!(await deps.reposts.saveDetector(eventId, version, result.state, exact))) return { spikes: [], open };
  for (const e of events) deps.log.info(`repost spike ${e.type}`, { eventId, ...e.spike });
  return { spikes: exact, open };
}

/** An ended spike's total, peak and top entry, from the stored per-second counts. */
async function recount(eventId: string, spike: Spike, deps: TallyDeps): Promise<Spike> {
  const seconds = (await deps.reposts.seconds(eventId, spike.startedAt - 1000)).filter((s) => s.t < (spike.endedAt ?? Infinity));
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
