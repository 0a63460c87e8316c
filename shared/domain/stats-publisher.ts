// The live counts every page shows (viewers, and the repost totals that moved), as `stats` lines of
// the change log: sent by the repost tally when totals change and by the viewer count when the
// audience moves, so delivery brings them to every viewer like any change.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, EntryStore, RepostStore, ViewerCounts } from './ports';

/** Live counts go out at most this often per event. */
export const STATS_INTERVAL_MS = 1_000;

/**
 * The most totals one stats line of the change log holds. A DynamoDB item is at most 400 KB; a total
 * costs at most 18 bytes of it (a 10-digit seq as the name, a 12-digit count as 7 bytes, 1 byte of
 * map overhead), so 8,000 take 144 KB at worst. Delivery splits a line into 32 KB frames anyway.
 */
export const MAX_STATS_SEQS_PER_LINE = 8_000;

export interface StatsDeps {
  reposts: Pick<RepostStore, 'totals'>;
  entries: Pick<EntryStore, 'appendFrame'>;
  viewers: Pick<ViewerCounts, 'count'>;
  now: Clock;
}

/** One per container (functions/lib/container.ts): the tally and the viewer count share what is pending. */
export class StatsPublisher {
  /** Per event, the seqs whose totals changed since the last stats this container sent. */
  private readonly pending = new Map<string, Set<number>>();

  constructor(private readonly deps: StatsDeps) {}

  /**
   * Appends `stats` (viewers, and the totals of the seqs that changed) to the change log, at most
   * once a second per event: a tally that finds the last stats too recent waits out the rest of the
   * second once and sends then (so the last counts of a wave go out too); if another writer got there
   * first, the seqs wait for the next batch. More seqs than one line holds go out in lines that
   * follow at once (delivery merges the stats a viewer is owed, so they still cost one visit).
   */
  async publish(
    eventId: string,
    changed: ReadonlySet<number>,
    options: { viewersChanged?: boolean } = {},
  ): Promise<void> {
    const { deps } = this;
    const pending = this.pending.get(eventId) ?? new Set<number>();
    for (const seq of changed) pending.add(seq);
    if (this.pending.size > 1_000 && !this.pending.has(eventId)) this.pending.clear();
    this.pending.set(eventId, pending);
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
        await sleep(result.retryInMs);
      }
    }
  }
}
