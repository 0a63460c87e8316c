// A repost storm without thousands of sockets: rows written as the repost route writes them
// (the same store), stamped as they are written; the stream, tally, detector and frames are real.
import type { Stage } from '../../local/stage';
import { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import { stageDb } from './stage';

export function repostStore(stage: Stage): DynamoRepostStore {
  return new DynamoRepostStore(stageDb(stage), stage.tables);
}

/** `count` reposts of `seq` from as many made-up connections, 100 at a time; returns when the first and last were written. */
export async function repostStorm(
  store: DynamoRepostStore,
  eventId: string,
  seq: number,
  count: number,
  prefix = 'storm',
): Promise<{ firstAt: number; lastAt: number }> {
  const firstAt = Date.now();
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map((connectionId) => store.add({ eventId, seq, connectionId, at: Date.now() })),
    );
  }
  return { firstAt, lastAt: Date.now() };
}
