// The account's @connections budget ledger on DynamoDB Local, through the adapter the delivery workers
// use: registrations of many events over the ledger's partitions, read back whole; a successor's
// registration survives its predecessor letting go; shares computed from what was read; and the
// real workers of the local stage registering and letting go.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { Stage } from '../../local/stage';
import { createTables } from '../../local/create-tables';
import { DynamoBudgetLedger, ledgerPartition } from '../../shared/adapters/dynamo-budget-ledger';
import { allot, defaultBudgetPolicy } from '../../shared/domain/delivery/budget-ledger';
import type { ServerFrame } from '../../shared/domain/protocol';
import { BUDGET_LEDGER_PARTITIONS } from '../../shared/tables';
import { createEvent, reporterUrl, stageDb, testStage, viewerUrl } from '../support/stage';
import { connect } from '../support/ws-client';

let client: DynamoDBClient;
let db: DynamoDBDocumentClient;
let table: string;
let store: DynamoBudgetLedger;

beforeAll(async () => {
  client = new DynamoDBClient({
    endpoint: inject('dynamoEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  const tables = await createTables(client, `b${randomBytes(4).toString('hex')}`);
  db = DynamoDBDocumentClient.from(client);
  table = tables.budget;
  store = new DynamoBudgetLedger(db, table);
}, 60_000);

afterAll(() => client?.destroy());

it('reads back every registration of every event, spread over all the ledger partitions', async () => {
  const keys = Array.from({ length: 5 * 16 }, (_, i) => `ev${Math.floor(i / 16)}#${i % 16}`);
  await Promise.all(
    keys.map((key, i) => store.register({ key, owner: `w${i}`, rows: i, beatAt: 1_000 + i, since: 500 }, 11_000)),
  );
  const read = await store.registrations();
  expect(read.map((r) => r.key).sort()).toEqual([...keys].sort());
  expect(read.find((r) => r.key === 'ev2#3')).toEqual({
    key: 'ev2#3',
    owner: 'w35',
    rows: 35,
    beatAt: 1_035,
    since: 500,
  });
  // No partition holds them all (a hot key), and none is left empty.
  const perPartition = new Map<string, number>();
  for (const key of keys) perPartition.set(ledgerPartition(key), (perPartition.get(ledgerPartition(key)) ?? 0) + 1);
  expect(perPartition.size).toBe(BUDGET_LEDGER_PARTITIONS);
  const stored = await db.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'ledger#0' },
    }),
  );
  expect(stored.Items?.length).toBe(perPartition.get('ledger#0'));
  // TTL, in seconds, a minute past the expiry (readers judge age by beatAt; TTL only tidies up).
  expect(stored.Items?.[0]?.expiresAt).toBe(71);
});

it('reads past DynamoDB’s 1 MB pages (the paginator, not the first page)', async () => {
  // ~3,000 registrations in one partition would be needed to fill a page of these small items; a
  // one-partition ledger with a long key gets there with fewer.
  const big = new DynamoBudgetLedger(db, table, 1);
  const pad = 'x'.repeat(900);
  const keys = Array.from({ length: 1_300 }, (_, i) => `${pad}${i}#0`);
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map((key) => big.register({ key, owner: 'o', rows: 1, beatAt: 1, since: 1 }, 10_000)),
    );
  }
  const read = await big.registrations();
  expect(read.filter((r) => r.key.startsWith(pad))).toHaveLength(keys.length);
}, 120_000);

it('takes out only its own registration: a successor who registered meanwhile stays', async () => {
  await store.register({ key: 'evS#0', owner: 'old', rows: 10, beatAt: 1, since: 1 }, 10_000);
  await store.register({ key: 'evS#0', owner: 'new', rows: 12, beatAt: 2, since: 2 }, 10_000);
  await store.deregister('evS#0', 'old'); // the predecessor, late
  expect((await store.registrations()).find((r) => r.key === 'evS#0')?.owner).toBe('new');
  await store.deregister('evS#0', 'new');
  await store.deregister('never#0', 'x');
  expect((await store.registrations()).find((r) => r.key === 'evS#0')).toBeUndefined();
});

it('gives shares from what it read: in proportion to rows, a dead worker’s returned', async () => {
  const fresh = new DynamoBudgetLedger(db, (await createTables(client, `b${randomBytes(4).toString('hex')}`)).budget);
  const policy = { ...defaultBudgetPolicy, budget: 1_000 };
  const now = 100_000;
  await fresh.register({ key: 'a#0', owner: 'a', rows: 300, beatAt: now, since: 0 }, now + policy.expiryMs);
  await fresh.register({ key: 'b#0', owner: 'b', rows: 100, beatAt: now, since: 0 }, now + policy.expiryMs);
  await fresh.register({ key: 'dead#0', owner: 'd', rows: 600, beatAt: now - policy.expiryMs, since: 0 }, now);
  const all = await fresh.registrations();
  const a = allot(policy, all, { key: 'a#0', rows: 300, since: 0 }, now);
  const b = allot(policy, all, { key: 'b#0', rows: 100, since: 0 }, now);
  expect(a + b).toBeLessThanOrEqual(1_000);
  expect((a - policy.floorPerWorker) / (b - policy.floorPerWorker)).toBeCloseTo(3, 2);
  expect(a + b).toBeGreaterThan(0.94 * 1_000); // the dead worker's 600 rows reserve nothing
}, 60_000);

describe('on the local stage', () => {
  let stage: Stage;
  afterAll(async () => stage?.stop());

  it('a running delivery worker registers its shard’s viewers in the ledger and takes them out when it lets go', async () => {
    stage = await testStage({ env: { LIVECAST_WORKER_IDLE_MS: '10000' } });
    const event = await createEvent(stage);
    const reporter = await connect(reporterUrl(stage, event));
    const viewer = await connect(viewerUrl(stage, event.eventId));
    try {
      const stageStore = new DynamoBudgetLedger(stageDb(stage), stage.tables.budget);
      const ours = async () => (await stageStore.registrations()).filter((r) => r.key.startsWith(`${event.eventId}#`));
      reporter.send({ action: 'publish', clientId: 'c1', text: 'The ceremony begins' });
      await viewer.next((f: ServerFrame) => f.type === 'update', { timeoutMs: 15_000 });
      // The workers woke for the publish and hold on (idle 10 s): the viewer's shard's worker
      // registers its rows (the viewer's, and the reporter's if it shares the shard) as soon as it
      // has read them, concurrently with its posts.
      // The old loop had no deadline of its own (the test's 90 s bounded it): a loaded machine reads slowly.
      const seen = await vi.waitFor(
        async () => {
          const rows = await ours();
          expect(rows.some((r) => r.rows >= 1)).toBe(true);
          return rows;
        },
        { timeout: 60_000, interval: 50 },
      );
      expect(seen.every((r) => r.owner.length > 0 && r.beatAt > 0)).toBe(true);
      await stage.settled();
      expect(await ours()).toEqual([]);
    } finally {
      await Promise.all([reporter.close(), viewer.close()]);
    }
  }, 90_000);
});
