// ConnectionStore on DynamoDB: rows sharded by `<eventId>#<shard>`, each added or removed in one
// transaction with the event's viewer counter so the two never disagree.
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionRecord, ConnectionStore } from '../domain/ports';
import { connectionPartition, shardOf } from '../domain/sharding';
import { CONNECTION_TTL_SECONDS } from '../tables';
import { backoffMs } from '../domain/delivery/pacer';
import { queryPages } from './dynamo-paging';

export interface ConnectionTables {
  events: string;
  connections: string;
}

export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: ConnectionTables,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async add(connection: ConnectionRecord & { connectedAt: string; fromChange: number }): Promise<boolean> {
    const { eventId, connectionId, role, connectedAt, fromChange } = connection;
    const expiresAt = Math.floor(this.clock().getTime() / 1000) + CONNECTION_TTL_SECONDS;
    try {
      await retryingConflicts(() => this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tables.connections,
                Item: {
                  pk: connectionPartition(eventId, shardOf(connectionId)),
                  connectionId,
                  eventId,
                  role,
                  connectedAt,
                  fromChange,
                  expiresAt,
                },
              },
            },
            this.counter(eventId, role, 1, 'attribute_exists(eventId)'),
          ],
        }),
      ));
      return true;
    } catch (err) {
      if (err instanceof TransactionCanceledException && err.CancellationReasons?.[1]?.Code === 'ConditionalCheckFailed') {
        return false;
      }
      throw err;
    }
  }

  async remove(connection: ConnectionRecord): Promise<boolean> {
    const { eventId, connectionId, role } = connection;
    try {
      await retryingConflicts(() => this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tables.connections,
                Key: { pk: connectionPartition(eventId, shardOf(connectionId)), connectionId },
                ConditionExpression: 'attribute_exists(connectionId)',
              },
            },
            this.counter(eventId, role, -1, 'attribute_exists(eventId)'),
          ],
        }),
      ));
      return true;
    } catch (err) {
      // Already removed ($disconnect and a 410 raced): counted down once, by whoever won.
      if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
        return false;
      }
      throw err;
    }
  }

  async *listShard(eventId: string, shard: number): AsyncIterable<ConnectionRecord[]> {
    const pages = queryPages(this.db, {
      TableName: this.tables.connections,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': connectionPartition(eventId, shard) },
      ProjectionExpression: 'connectionId, #role, fromChange, connectedAt',
      ExpressionAttributeNames: { '#role': 'role' },
    });
    for await (const items of pages) {
      yield items.map((item) => ({
        eventId,
        connectionId: String(item.connectionId),
        role: item.role === 'reporter' ? ('reporter' as const) : ('viewer' as const),
        ...(typeof item.fromChange === 'number' ? { fromChange: item.fromChange } : {}),
        ...(typeof item.connectedAt === 'string' ? { connectedAt: item.connectedAt } : {}),
      }));
    }
  }

  /** Only viewers are counted; for a reporter the item is just checked to exist. */
  private counter(eventId: string, role: ConnectionRecord['role'], delta: 1 | -1, condition: string) {
    if (role !== 'viewer') {
      return { ConditionCheck: { TableName: this.tables.events, Key: { eventId }, ConditionExpression: condition } };
    }
    return {
      Update: {
        TableName: this.tables.events,
        Key: { eventId },
        UpdateExpression: 'ADD viewers :delta',
        ConditionExpression: condition,
        ExpressionAttributeValues: { ':delta': delta },
      },
    };
  }
}

/** Attempts at a transaction that DynamoDB cancelled only for a conflict with another one in flight. */
const CONFLICT_ATTEMPTS = 6;

/**
 * Runs a transaction again when DynamoDB cancelled it for a conflict alone (every connect and
 * disconnect of an event meets on its item's viewer counter): a short jittered wait and the same
 * write. Any other cancellation — a condition — is the caller's answer and is passed on.
 */
async function retryingConflicts<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      const conflictOnly =
        err instanceof TransactionCanceledException &&
        (err.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict') &&
        !(err.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');
      if (!conflictOnly || attempt >= CONFLICT_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, backoffMs(attempt, Math.random, 20, 500)));
    }
  }
}
