// Today's behaviour, for the comparison only: the connection store as it was before issue 13, where
// every $connect and $disconnect was one transaction of the row and the event item's viewer counter
// (`git show a1e9663:shared/adapters/dynamo-connection-store.ts`). Nothing deployed uses it; the
// connect-wave benchmark puts it into the stage's container for its "event item" runs.
//
// It talks to DynamoDB through a client of its own, not the container's: the local stage refuses
// calls shared/routes.ts does not grant, and $connect / $disconnect are no longer granted writes on
// Events. Before issue 13 they were (UpdateItem and ConditionCheckItem), so this is the old code under
// its old grants. Its calls still go through the stage's DynamoDB endpoint, the fault proxy included.
import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from '../../shared/adapters/dynamo-connection-store';
import { ENV } from '../../shared/config';
import { attempts } from '../../shared/retry';
import type { Clock, ConnectionRecord, ConnectionStore } from '../../shared/domain/ports';
import { connectionPartition, shardOf } from '../../shared/domain/sharding';
import { CONNECTION_TTL_SECONDS } from '../../shared/tables';

export interface EventItemTables {
  events: string;
  connections: string;
}

/** A DynamoDB client as the handlers' (5 attempts, local credentials), at the stage's endpoint as the stage has set it. */
export function legacyDynamoClient(env: NodeJS.ProcessEnv = process.env): DynamoDBDocumentClient {
  const endpoint = env[ENV.dynamoEndpoint];
  if (!endpoint) throw new Error(`${ENV.dynamoEndpoint} is not set: start the stage first`);
  const client = new DynamoDBClient({
    endpoint,
    region: env[ENV.region] ?? 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 5,
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export class EventItemConnectionStore implements ConnectionStore {
  /** Listing a shard was the same then as now. */
  private readonly lister: DynamoConnectionStore;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: EventItemTables,
    private readonly clock: Clock = Date.now,
  ) {
    this.lister = new DynamoConnectionStore(db, tables, clock);
  }

  async add(connection: ConnectionRecord & { connectedAt: string; fromChange: number }): Promise<boolean> {
    const { eventId, connectionId, role, connectedAt, fromChange } = connection;
    const expiresAt = Math.floor(this.clock() / 1000) + CONNECTION_TTL_SECONDS;
    try {
      await retryingConflicts(() =>
        this.db.send(
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
              this.counter(eventId, role, 1),
            ],
          }),
        ),
      );
      return true;
    } catch (err) {
      if (
        err instanceof TransactionCanceledException &&
        err.CancellationReasons?.[1]?.Code === 'ConditionalCheckFailed'
      )
        return false;
      throw err;
    }
  }

  async remove(connection: ConnectionRecord): Promise<boolean> {
    const { eventId, connectionId, role } = connection;
    try {
      await retryingConflicts(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: this.tables.connections,
                  Key: { pk: connectionPartition(eventId, shardOf(connectionId)), connectionId },
                  ConditionExpression: 'attribute_exists(connectionId)',
                },
              },
              this.counter(eventId, role, -1),
            ],
          }),
        ),
      );
      return true;
    } catch (err) {
      if (
        err instanceof TransactionCanceledException &&
        err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      )
        return false;
      throw err;
    }
  }

  listShard(eventId: string, shard: number): AsyncIterable<ConnectionRecord[]> {
    return this.lister.listShard(eventId, shard);
  }

  private counter(eventId: string, role: ConnectionRecord['role'], delta: 1 | -1) {
    const condition = 'attribute_exists(eventId)';
    if (role !== 'viewer')
      return { ConditionCheck: { TableName: this.tables.events, Key: { eventId }, ConditionExpression: condition } };
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

/** As before: 6 attempts at a transaction cancelled for a conflict alone, 20–500 ms jittered apart. */
const CONFLICT_ATTEMPTS = 6;

async function retryingConflicts<T>(write: () => Promise<T>): Promise<T> {
  let last: unknown;
  for await (const _ of attempts({ tries: CONFLICT_ATTEMPTS, baseMs: 20, capMs: 500 })) {
    try {
      return await write();
    } catch (err) {
      const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
      const conflictOnly =
        reasons.some((r) => r.Code === 'TransactionConflict') &&
        !reasons.some((r) => r.Code === 'ConditionalCheckFailed');
      if (!conflictOnly) throw err;
      last = err;
    }
  }
  throw last;
}
