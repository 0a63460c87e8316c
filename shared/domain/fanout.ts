// Fan-out, first version: read an event's connection rows shard by shard and post each message to
// each connection with bounded concurrency. Transport-agnostic: it only calls the injected ports.
import { encodeFrames } from './frames';
import type { BroadcastReport, Broadcaster, ConnectionGateway, ConnectionRecord, ConnectionStore, Logger } from './ports';
import type { ServerFrame } from './protocol';
import { CONNECTION_SHARDS } from '../tables';

export interface DirectFanoutDeps {
  connections: ConnectionStore;
  gateway: ConnectionGateway;
  log: Logger;
  /** Posts in flight at once, across all shards (keep it within the HTTP client's socket pool). */
  concurrency: number;
  shards?: number;
}

export class DirectFanout implements Broadcaster {
  constructor(private readonly deps: DirectFanoutDeps) {}

  async broadcast(eventId: string, frames: readonly ServerFrame[]): Promise<BroadcastReport> {
    const messages = encodeFrames(frames); // serialized once for every viewer
    const report: BroadcastReport = { connections: 0, posts: 0, gone: 0, failed: 0 };
    const limit = limiter(this.deps.concurrency);
    const shards = this.deps.shards ?? CONNECTION_SHARDS;
    const pending: Promise<void>[] = [];

    await Promise.all(
      Array.from({ length: shards }, async (_, shard) => {
        for await (const page of this.deps.connections.listShard(eventId, shard)) {
          for (const connection of page) {
            report.connections++;
            pending.push(limit(() => this.deliver(connection, messages, report)));
          }
        }
      }),
    );
    await Promise.all(pending);
    return report;
  }

  /** One connection's messages, in order. Its failure is its own: the broadcast goes on. */
  private async deliver(connection: ConnectionRecord, messages: readonly Uint8Array[], report: BroadcastReport) {
    try {
      for (const message of messages) {
        report.posts++;
        if ((await this.deps.gateway.post(connection.connectionId, message)) === 'gone') {
          report.gone++;
          await this.deps.connections.remove(connection);
          return;
        }
      }
    } catch (err) {
      report.failed++;
      this.deps.log.warn('delivery failed', { connectionId: connection.connectionId, error: String(err) });
    }
  }
}

/** A counting semaphore: at most `max` of the given tasks run at once; a freed slot passes straight to the next waiter. */
export function limiter(max: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
