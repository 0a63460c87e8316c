// Reposts: any connected viewer reposts an entry; it counts once per viewer (a signed viewer id, or
// for a client without one its address) per seq.
import type { Caller } from '../live-service';
import { conflict, notFound } from '../errors';
import type { Clock, EntryStore, Logger, RepostStore } from '../ports';
import type { RepostAckFrame, RepostFrame } from '../protocol';
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
