// Virtual viewers: their ids (never shaped like a gateway-issued id) and their connection rows in DynamoDB Local, written as $connect would write them.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'node:http';
import { DynamoDBClient, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { TableNames } from '../../local/create-tables';
import { connectionPartition, shardOf } from '../../shared/domain/sharding';
import { CONNECTION_TTL_SECONDS, connectionsTable } from '../../shared/tables';

export const viewerId = (i: number): string => `v-${String(i).padStart(7, '0')}`;
export const viewerIndex = (id: string): number => Number(id.slice(2));
export const viewerIds = (n: number): string[] => Array.from({ length: n }, (_, i) => viewerId(i));

/** BatchWriteItem's limit. */
const BATCH = 25;

/**
 * The rows DynamoConnectionStore.add writes (same attributes, same sharded key), put 25 at a time
 * on `lanes` parallel requests, then the event's viewer count raised once by n. add() itself is a
 * transaction on the event item per row: ~90 rows/s on DynamoDB Local (~230/s with 50 in
 * parallel), 7 to 18 minutes for 100,000.
 */
export async function writeViewerRows(
  dynamoEndpoint: string,
  tables: TableNames,
  eventId: string,
  n: number,
  lanes = 32,
  /** The first viewer's index: several events in one gateway need ids of their own (bench/events). */
  first = 0,
): Promise<{ ms: number; rowsPerSecond: number; unprocessedRetries: number }> {
  const t0 = performance.now();
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: lanes }) }),
    }),
  );
  const connectedAt = new Date().toISOString();
  const expiresAt = Math.floor(Date.now() / 1000) + CONNECTION_TTL_SECONDS;
  let next = 0;
  let unprocessedRetries = 0;
  const lane = async () => {
    while (next < n) {
      const start = next;
      next += BATCH;
      let items: Record<string, unknown>[] = [];
      for (let i = start; i < Math.min(n, start + BATCH); i++) {
        const connectionId = viewerId(first + i);
        items.push({
          PutRequest: {
            Item: {
              pk: connectionPartition(eventId, shardOf(connectionId)),
              connectionId,
              eventId,
              role: 'viewer',
              connectedAt,
              fromChange: 0,
              expiresAt,
            },
          },
        });
      }
      for (let attempt = 0; items.length > 0; attempt++) {
        if (attempt >= 20) throw new Error('BatchWriteItem kept leaving items unprocessed');
        if (attempt > 0) {
          unprocessedRetries++;
          await sleep(20 * attempt);
        }
        const out = await db.send(new BatchWriteCommand({ RequestItems: { [tables.connections]: items } }));
        items = out.UnprocessedItems?.[tables.connections] ?? [];
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, lane));
    await db.send(
      new UpdateCommand({
        TableName: tables.events,
        Key: { eventId },
        UpdateExpression: 'ADD viewers :n',
        ExpressionAttributeValues: { ':n': n },
      }),
    );
  } finally {
    db.destroy();
  }
  const ms = performance.now() - t0;
  return { ms, rowsPerSecond: (n / ms) * 1000, unprocessedRetries };
}

/**
 * Runs `write` with the Connections table's stream switched off, then switches it back on (a new,
 * empty stream). DynamoDB Local's GetRecords works through the whole shard the reader polls, so
 * 100,000 setup rows left in the stream cost its one SQLite thread most of a core for the rest of
 * the run (measured: 0.84 cores at 100,000 rows, 0.19 before the table had a stream), a cost AWS's
 * streams do not have. The setup stands for viewers who connected long before the run, whose
 * records the triggers consumed back then.
 */
export async function withoutConnectionsStream<T>(
  dynamoEndpoint: string,
  tables: TableNames,
  write: () => Promise<T>,
): Promise<T> {
  const db = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const TableName = tables.connections;
  try {
    await db.send(new UpdateTableCommand({ TableName, StreamSpecification: { StreamEnabled: false } }));
    const result = await write();
    await db.send(
      new UpdateTableCommand({
        TableName,
        StreamSpecification: { StreamEnabled: true, StreamViewType: connectionsTable.stream },
      }),
    );
    return result;
  } finally {
    db.destroy();
  }
}
