// GET /events/{id}/reposts: the series, the spikes, the total — read only, from the buckets the tally
// keeps, and kept a few seconds per container so a crowd polling it costs a handful of reads.
import { notFound } from '../errors';
import type { Clock, EventStore, RepostSeries, RepostStore } from '../ports';
import { eventIdSchema, type RepostsView } from '../protocol';

/** How long an answer is served again: the HTTP answer says the same (Cache-Control max-age). */
export const REPOSTS_VIEW_CACHE_MS = 5_000;

export interface RepostsReaderDeps {
  events: Pick<EventStore, 'get'>;
  reposts: RepostSeries & Pick<RepostStore, 'spikes'>;
  now: Clock;
  cacheMs?: number;
  /** Answers kept at most (events × bucket sizes). @default 1,000 */
  maxCached?: number;
}

export class RepostsReader {
  private readonly cache = new Map<string, { until: number; view: Promise<RepostsView> }>();

  constructor(private readonly deps: RepostsReaderDeps) {}

  /**
   * Nothing here writes: a spike is ended by the tally (at the next repost) or by the sweep (once a
   * minute), so one may read open here for up to about two minutes after its wave.
   */
  view(eventId: string, bucketSeconds: number): Promise<RepostsView> {
    const key = `${eventId}#${bucketSeconds}`;
    const now = this.deps.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.view;
    const view = this.read(eventId, bucketSeconds);
    if (this.cache.size >= (this.deps.maxCached ?? 1_000)) {
      for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
      if (this.cache.size >= (this.deps.maxCached ?? 1_000)) this.cache.clear();
    }
    this.cache.set(key, { until: now + (this.deps.cacheMs ?? REPOSTS_VIEW_CACHE_MS), view });
    // A failed read (not found included) is not kept.
    view.catch(() => this.cache.delete(key));
    return view;
  }

  private async read(eventId: string, bucketSeconds: number): Promise<RepostsView> {
    if (!eventIdSchema.safeParse(eventId).success || !(await this.deps.events.get(eventId))) {
      throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
    }
    const [{ buckets, total }, spikes] = await Promise.all([
      this.deps.reposts.series(eventId, bucketSeconds),
      this.deps.reposts.spikes(eventId),
    ]);
    return { buckets, spikes, total };
  }
}
