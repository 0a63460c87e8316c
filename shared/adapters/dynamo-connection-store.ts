// ConnectionStore on DynamoDB: rows sharded by `<eventId>#<shard>`, each a single put or delete. The
// event's item is never written here: the viewer count follows from the table's stream
// (functions/viewer-stats.ts), so a wave of connects never contends with the reporter's publishes.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Clock, ConnectionRecord, ConnectionStore } from '../domain/ports';
import { connectionPartition, shardOf } from '../domain/sharding';
import { CONNECTION_TTL_SECONDS } from '../tables';
import { queryPages } from './dynamo-paging';

export interface ConnectionTables {
  connections: string;
}

export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: ConnectionTables,
    private readonly clock: Clock = Date.now,
  ) {}

  async add(connection: ConnectionRecord & { connectedAt: string; fromChange: number }): Promise<boolean> {
    const { eventId, connectionId, role, connectedAt, fromChange } = connection;
    const expiresAt = Math.floor(this.clock() / 1000) + CONNECTION_TTL_SECONDS;
    // The role is in the row, and so in the stream's images: the count tells viewers from reporters by it.
    await this.db.send(
      new PutCommand({
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
      }),
    );
    return true;
  }

  async remove(connection: ConnectionRecord): Promise<boolean> {
    const { eventId, connectionId } = connection;
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tables.connections,
          Key: { pk: connectionPartition(eventId, shardOf(connectionId)), connectionId },
          // Only a delete that removes a row makes a REMOVE record: a $disconnect and a 410 for the same connection count down once.
          ConditionExpression: 'attribute_exists(connectionId)',
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
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
}
