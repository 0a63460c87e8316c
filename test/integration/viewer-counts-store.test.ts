// The viewer counters on DynamoDB Local, through the adapter ViewerStats uses: a batch counted once
// however often it comes, whole or in parts, and by two invocations at once; and a stage kept from
// before (keys-only Connections stream) gets the stream the count needs.
import { randomBytes } from 'node:crypto';
import { DescribeTableCommand, DynamoDBClient, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTables, type TableNames } from '../../local/create-tables';
import { DynamoViewerCounts } from '../../shared/adapters/dynamo-viewer-counts';
import type { PresenceChange } from '../../shared/domain/viewer-count';

let client: DynamoDBClient;
let db: DynamoDBDocumentClient;
let prefix: string;
let tables: TableNames;

beforeAll(async () => {
  client = new DynamoDBClient({
    endpoint: inject('dynamoEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  db = DynamoDBDocumentClient.from(client);
  prefix = `v${randomBytes(4).toString('hex')}`;
  tables = await createTables(client, prefix);
}, 60_000);

afterAll(() => client?.destroy());

let seq = 5_000;
const change = (
  eventId: string,
  shard: number,
  kind: PresenceChange['kind'],
  role: PresenceChange['role'] = 'viewer',
): PresenceChange => ({
  eventId,
  partition: `${eventId}#${shard}`,
  kind,
  role,
  sequence: String((seq += 13)).padStart(21, '0'),
});

it('counts a batch once when it comes again whole, in halves, or from two invocations at once', async () => {
  const counts = new DynamoViewerCounts(db, tables.repostCounts);
  const batch = [
    ...Array.from({ length: 30 }, (_, i) => change('evA', i % 5, 'connected')),
    change('evA', 0, 'connected', 'reporter'),
    ...Array.from({ length: 7 }, (_, i) => change('evA', i % 5, 'disconnected')),
  ];
  const half = 17;
  expect(await counts.apply('evA', batch.slice(0, half))).toBe(half);
  expect(await counts.apply('evA', batch.slice(0, half))).toBe(0);
  // The whole batch again (Lambda retrying from the first record), twice at once: only the rest counts, once.
  const both = await Promise.all([counts.apply('evA', batch), counts.apply('evA', batch)]);
  expect(both.reduce((a, b) => a + b, 0)).toBe(batch.length - half);
  expect(await counts.count('evA')).toBe(30 - 7);
  expect(await counts.count('evB')).toBe(0);
});

it('never shows a negative audience (rows connected before counting began, removed after)', async () => {
  const counts = new DynamoViewerCounts(db, tables.repostCounts);
  await counts.apply('evC', [change('evC', 3, 'disconnected'), change('evC', 3, 'disconnected')]);
  expect(await counts.count('evC')).toBe(0);
});

it('switches a kept keys-only Connections stream to new and old images', async () => {
  const TableName = tables.connections;
  await client.send(new UpdateTableCommand({ TableName, StreamSpecification: { StreamEnabled: false } }));
  await client.send(
    new UpdateTableCommand({ TableName, StreamSpecification: { StreamEnabled: true, StreamViewType: 'KEYS_ONLY' } }),
  );
  await createTables(client, prefix);
  const { Table } = await client.send(new DescribeTableCommand({ TableName }));
  expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
});
