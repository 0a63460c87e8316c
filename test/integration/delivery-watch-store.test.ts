// The watchdog's view of delivery on DynamoDB Local: the watch list item and the shards' states,
// through the adapter the functions use.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTables } from '../../local/create-tables';
import { DynamoLeaseStore } from '../../shared/adapters/dynamo-lease-store';

let client: DynamoDBClient;
let store: DynamoLeaseStore;
let now = 1_000_000;

beforeAll(async () => {
  client = new DynamoDBClient({
    endpoint: inject('dynamoEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  const tables = await createTables(client, `w${randomBytes(4).toString('hex')}`);
  store = new DynamoLeaseStore(DynamoDBDocumentClient.from(client), tables.delivery, () => now);
}, 60_000);

afterAll(() => client?.destroy());

it('creates the list on the first marks, even two at once, and keeps the latest mark per event', async () => {
  expect(await store.watched()).toEqual(new Map());
  await Promise.all([store.watch(['evA', 'evB'], 1), store.watch(['evC'], 1)]);
  await store.watch(['evB'], 2);
  expect(await store.watched()).toEqual(
    new Map([
      ['evA', 1],
      ['evB', 2],
      ['evC', 1],
    ]),
  );
});

it('takes an event off only if no wake-up marked it since the watchdog looked', async () => {
  await store.unwatch('evB', 1); // marked again at 2 meanwhile: stays
  await store.unwatch('evA', 1);
  await store.unwatch('never-watched', 1);
  expect(await store.watched()).toEqual(
    new Map([
      ['evB', 2],
      ['evC', 1],
    ]),
  );
});

it('reads each shard: cursor left by the last worker (0 if none), and whether a live lease holds it', async () => {
  await store.acquire('evA', 0, 'w0', 30_000);
  await store.acquire('evA', 1, 'w1', 30_000);
  await store.release('evA', 1, 'w1', 5);
  await store.acquire('evA', 2, 'w2', 30_000);
  now += 31_000; // w2 crashed: its lease ran out
  await store.acquire('evA', 0, 'w0', 30_000); // w0 is alive (renewed)
  expect(await store.shardStates('evA', [0, 1, 2, 3])).toEqual([
    { shard: 0, cursor: 0, held: true },
    { shard: 1, cursor: 5, held: false },
    { shard: 2, cursor: 0, held: false },
    { shard: 3, cursor: 0, held: false },
  ]);
  expect(await store.held('evA', [0, 1, 2, 3])).toEqual(new Set([0]));
});
