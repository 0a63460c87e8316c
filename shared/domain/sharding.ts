// Which shard of an event's connection rows a connection lives in.

/**
 * How many partitions an event's connection rows (and its reposts, and its delivery workers) are
 * spread over. Fixed by the data layout: changing it would strand existing connection rows.
 */
export const CONNECTION_SHARDS = 16;

/** FNV-1a: stable across processes and runtimes, cheap, and spreads API Gateway's random ids evenly. */
export function shardOf(connectionId: string, shards: number = CONNECTION_SHARDS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    h ^= connectionId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

export const connectionPartition = (eventId: string, shard: number): string => `${eventId}#${shard}`;
