// The benchmark's virtual connections: ids without a socket that take posts like real ones
// (answers, limits, counters), so one machine can stand for 100,000 viewers.
import { emptyBuffer, deleted, ok, type Outcome, tooLarge } from './outcomes';
import {
  type Log,
  type ManagementCall,
  type VirtualConnectionOptions,
  type WsGatewayStats,
  describe,
  maxMessageBytes,
} from './types';

/**
 * One per addVirtualConnections call, shared by its ids: 100,000 virtual connections then cost
 * a Map entry each and nothing more (about 10 MB with their id strings).
 */
export interface VirtualGroup {
  readonly onMessage: VirtualConnectionOptions['onMessage'];
  readonly onClose: VirtualConnectionOptions['onClose'];
  readonly connectedAt: number;
  /** GetConnection's answer, built once: a virtual connection never sends, so it never changes. */
  readonly info: string;
}

type Cause = 'deleted' | 'gone' | 'tooLarge';

/** What gatewayId() issues; virtual ids must not look like it, so they can never collide with a real one. */
const gatewayIdShape = /^[A-Za-z0-9+/]{15}=$/;

export class VirtualConnections {
  private readonly groups = new Map<string, VirtualGroup>();

  constructor(
    private readonly stats: WsGatewayStats,
    private readonly log: Log,
    /** Whether a real connection holds this id. */
    private readonly isOpen: (id: string) => boolean,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  get(id: string): VirtualGroup | undefined {
    return this.groups.get(id);
  }

  add(ids: readonly string[], vopts: VirtualConnectionOptions = {}): void {
    const connectedAt = Date.now();
    const at = new Date(connectedAt).toISOString();
    const group: VirtualGroup = {
      onMessage: vopts.onMessage,
      onClose: vopts.onClose,
      connectedAt,
      info: JSON.stringify({
        connectedAt: at,
        // A documentation address (RFC 5737): plausible, and obviously not a real viewer.
        identity: { sourceIp: '192.0.2.1', userAgent: 'livecast-virtual' },
        lastActiveAt: at,
      }),
    };
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as string;
      const problem =
        typeof id !== 'string' || id.length === 0
          ? 'is empty'
          : gatewayIdShape.test(id)
            ? 'has the shape of a gateway-issued id'
            : this.isOpen(id) || this.groups.has(id)
              ? 'is already in use'
              : undefined;
      if (problem !== undefined) {
        // All or nothing: a half-added batch would leave the caller guessing which ids exist.
        for (let j = 0; j < i; j += 1) this.groups.delete(ids[j] as string);
        throw new Error(`virtual connection id ${JSON.stringify(id)} ${problem}`);
      }
      this.groups.set(id, group);
    }
  }

  /** Drops them silently: the caller ending its own simulation. */
  remove(ids: readonly string[]): void {
    for (const id of ids) this.groups.delete(id);
  }

  clear(): void {
    this.groups.clear();
  }

  /** An injected 410 for a virtual connection: it is gone, as a real one would be. */
  drop(id: string): void {
    const group = this.groups.get(id);
    if (group !== undefined) this.end(id, group, 'gone');
  }

  /** A management call for a virtual connection, past the limits. */
  answer(call: ManagementCall, data: Buffer | undefined, group: VirtualGroup): Outcome {
    const stats = this.stats;
    switch (call.op) {
      case 'post':
        if (call.bytes > maxMessageBytes) {
          stats.postsTooLarge += 1;
          this.end(call.connectionId, group, 'tooLarge');
          return tooLarge;
        }
        stats.postsOut += 1;
        stats.virtualPostsOut += 1;
        if (group.onMessage !== undefined) {
          try {
            group.onMessage(call.connectionId, data ?? emptyBuffer, performance.now());
          } catch (err) {
            // The simulation's own bug: the post was delivered all the same.
            this.log(`ws: onMessage threw for virtual ${call.connectionId}: ${describe(err)}`);
          }
        }
        return ok;
      case 'get':
        stats.gets += 1;
        return { status: 200, body: group.info };
      case 'delete':
        stats.deletes += 1;
        this.end(call.connectionId, group, 'deleted');
        return deleted;
    }
  }

  private end(id: string, group: VirtualGroup, cause: Cause): void {
    this.groups.delete(id);
    if (group.onClose === undefined) return;
    try {
      group.onClose(id, cause);
    } catch (err) {
      this.log(`ws: onClose threw for virtual ${id}: ${describe(err)}`);
    }
  }
}
