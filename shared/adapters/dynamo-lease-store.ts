// LeaseStore on DynamoDB: one item per (event, shard), taken and let go with conditional writes.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LeaseStore } from '../domain/ports';
import { connectionPartition } from '../domain/sharding';

export class DynamoLeaseStore implements LeaseStore {
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
      const cursor = Attributes?.cursor;
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
    const now = this.now();
    const byKey = new Map(shards.map((s) => [connectionPartition(eventId, s), s]));
    const held = new Set<number>();
    let keys: Record<string, unknown>[] = [...byKey.keys()].map((pk) => ({ pk }));
    // BatchGetItem answers at most 100 keys and may leave some unprocessed.
    for (let round = 0; keys.length > 0 && round < 10; round++) {
      const batch = keys.slice(0, 100);
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: batch, ConsistentRead: true } } }),
      );
      for (const item of Responses?.[this.table] ?? []) {
        const shard = byKey.get(String(item.pk));
        if (shard !== undefined && item.owner && Number(item.leaseUntil) > now) held.add(shard);
      }
      keys = [...keys.slice(100), ...(UnprocessedKeys?.[this.table]?.Keys ?? [])];
    }
    return held;
  }
}
