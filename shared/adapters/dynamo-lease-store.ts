// LeaseStore on DynamoDB: one item per (event, shard), taken and let go with conditional writes. And
// the watchdog's list of live events: one more item of the same table.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DeliveryWatch, LeaseStore, ShardState } from '../domain/ports';
import { connectionPartition } from '../domain/sharding';
import { attempts } from '../retry';

/**
 * The watch list's item: a map eventId → when the wake-up last marked it. One item rather than a
 * Scan or an index: the list is small (the events live in the last half hour, ~30 bytes each, so
 * 400 KB holds over 10,000), one read gives all of it, and it is written once per wake-up batch.
 * `#` cannot start a lease key (`<eventId>#<shard>`).
 */
export const WATCH_KEY = '#watch';

type LeaseItem = { pk: string; owner?: unknown; leaseUntil?: unknown; cursor?: unknown };

export class DynamoLeaseStore implements LeaseStore, DeliveryWatch {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => number = Date.now,
  ) {}

  async acquire(eventId: string, shard: number, owner: string, ttlMs: number) {
    const now = this.now();
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: connectionPartition(eventId, shard) },
          UpdateExpression: 'SET #owner = :owner, leaseUntil = :until',
          ConditionExpression: 'attribute_not_exists(#owner) OR leaseUntil < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner, ':until': now + ttlMs, ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const cursor: unknown = Attributes?.cursor;
      return { cursor: typeof cursor === 'number' ? cursor : undefined };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  async renew(eventId: string, shard: number, owner: string, ttlMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: connectionPartition(eventId, shard) },
          UpdateExpression: 'SET leaseUntil = :until',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner, ':until': this.now() + ttlMs },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async release(eventId: string, shard: number, owner: string, cursor: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: connectionPartition(eventId, shard) },
          UpdateExpression: 'SET #cursor = :cursor REMOVE #owner, leaseUntil',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner', '#cursor': 'cursor' },
          ExpressionAttributeValues: { ':owner': owner, ':cursor': cursor },
        }),
      );
    } catch (err) {
      // Lost the lease meanwhile: the new holder's cursor is the one that counts.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async held(eventId: string, shards: readonly number[]): Promise<Set<number>> {
    return new Set((await this.shardStates(eventId, shards)).filter((s) => s.held).map((s) => s.shard));
  }

  async shardStates(eventId: string, shards: readonly number[]): Promise<ShardState[]> {
    const now = this.now();
    const byKey = new Map(shards.map((s) => [connectionPartition(eventId, s), s]));
    const found = new Map<number, LeaseItem>();
    let keys: Record<string, unknown>[] = [...byKey.keys()].map((pk) => ({ pk }));
    // BatchGetItem answers at most 100 keys and may leave some unprocessed: asked again with backoff
    // (as every BatchGetItem loop here; this one once asked again at once).
    for await (const _round of attempts({ tries: keys.length > 0 ? 10 : 0, baseMs: 20, capMs: 1_000 })) {
      const batch = keys.slice(0, 100);
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: batch, ConsistentRead: true } } }),
      );
      for (const item of (Responses?.[this.table] ?? []) as LeaseItem[]) {
        const shard = byKey.get(String(item.pk));
        if (shard !== undefined) found.set(shard, item);
      }
      keys = [...keys.slice(100), ...(UnprocessedKeys?.[this.table]?.Keys ?? [])];
      if (keys.length === 0) break;
    }
    // Keys still unprocessed read as "no worker": at worst a shard gets a worker start it did not need (it finds the lease and ends).
    return shards.map((shard) => {
      const item = found.get(shard);
      return {
        shard,
        cursor: typeof item?.cursor === 'number' ? item.cursor : 0,
        held: !!item?.owner && Number(item.leaseUntil) > now,
      };
    });
  }

  async watch(eventIds: readonly string[], at: number): Promise<void> {
    const ids = [...new Set(eventIds)];
    if (ids.length === 0) return;
    const names = Object.fromEntries(ids.map((id, i) => [`#e${i}`, id]));
    // The map's entries can only be set once the map exists; the first wake-up ever creates it.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: WATCH_KEY },
            UpdateExpression: `SET ${ids.map((_, i) => `#events.#e${i} = :at`).join(', ')}`,
            ConditionExpression: 'attribute_exists(#events)',
            ExpressionAttributeNames: { '#events': 'events', ...names },
            ExpressionAttributeValues: { ':at': at },
          }),
        );
        return;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: WATCH_KEY },
            UpdateExpression: 'SET #events = :events',
            ConditionExpression: 'attribute_not_exists(#events)',
            ExpressionAttributeNames: { '#events': 'events' },
            ExpressionAttributeValues: { ':events': Object.fromEntries(ids.map((id) => [id, at])) },
          }),
        );
        return;
      } catch (err) {
        // Another wake-up created it meanwhile: set our entries in it.
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    }
    throw new Error('could not write the delivery watch list');
  }

  async watched(): Promise<Map<string, number>> {
    // Eventually consistent (half the price): a mark a second late is seen at the next check.
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: WATCH_KEY } }));
    const events = (Item?.events ?? {}) as Record<string, unknown>;
    return new Map(Object.entries(events).filter((e): e is [string, number] => typeof e[1] === 'number'));
  }

  async unwatch(eventId: string, at: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: WATCH_KEY },
          UpdateExpression: 'REMOVE #events.#e',
          // A wake-up that marked it again meanwhile keeps it on the list.
          ConditionExpression: '#events.#e = :at',
          ExpressionAttributeNames: { '#events': 'events', '#e': eventId },
          ExpressionAttributeValues: { ':at': at },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}
