// Delivery through the real local stage under AWS's limits: the account token bucket answering 429,
// connections vanishing (410), hundreds of virtual viewers and real sockets side by side, the
// workers in processes of their own.
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../shared/adapters/dynamo-connection-store';
import type { Stage } from '../../local/stage';
import type { AckFrame, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import { connectionPartition } from '../../shared/domain/sharding';
import { CONNECTION_SHARDS } from '../../shared/domain/sharding';
import { createEvent, reporterUrl, testStage, viewerUrl, type CreatedEvent, stageDb } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

const VIRTUAL = 400;
const DROPPED = 25;

let stage: Stage;
let db: DynamoDBDocumentClient;
let event: CreatedEvent;
let reporter: TestClient;
let sockets: TestClient[];
const received = new Map<string, string[]>();
let largest = 0;

const virtualId = (i: number) => `v-${String(i).padStart(6, '0')}`;
const flatten = (frame: ServerFrame): ServerFrame[] => (frame.type === 'batch' ? frame.frames : [frame]);
const key = (f: UpdateFrame) => `${f.entry.seq}.${f.entry.rev}`;

beforeAll(async () => {
  // Delivery is allowed four times what the bucket refills: 429s are certain, and must cost nothing.
  stage = await testStage({
    limits: { rate: 400, burst: 60, latencyMs: 1, seed: 7 },
    // The workers run apart from the stage, in two processes, as AWS runs each invocation apart:
    // everything they know comes through DynamoDB and every post goes over HTTP.
    workerProcesses: 2,
    env: { LIVECAST_DELIVERY_BUDGET: '1600' },
  });
  db = stageDb(stage);
  event = await createEvent(stage);

  const ids = Array.from({ length: VIRTUAL }, (_, i) => virtualId(i));
  stage.ws.addVirtualConnections(ids, {
    onMessage: (id, data) => {
      largest = Math.max(largest, data.byteLength);
      const list = received.get(id) ?? [];
      for (const f of flatten(JSON.parse(data.toString('utf8')) as ServerFrame))
        if (f.type === 'update') list.push(key(f));
      received.set(id, list);
    },
  });
  const store = new DynamoConnectionStore(db, stage.tables);
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(
      ids.slice(i, i + 50).map((connectionId) =>
        store.add({
          eventId: event.eventId,
          connectionId,
          role: 'viewer',
          connectedAt: new Date().toISOString(),
          fromChange: 0,
        }),
      ),
    );
  }
  sockets = await Promise.all([1, 2, 3].map(() => connect(viewerUrl(stage, event.eventId))));
  reporter = await connect(reporterUrl(stage, event));
}, 120_000);

afterAll(async () => {
  await Promise.all([...(sockets ?? []), reporter].filter(Boolean).map((c) => c.close()));
  db?.destroy();
  await stage?.stop();
});

/** The entry changes of the change log, in order (its stats lines, from the audience arriving, left out). */
async function changeLog(): Promise<string[]> {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: stage.tables.changes,
      KeyConditionExpression: 'eventId = :e',
      ExpressionAttributeValues: { ':e': event.eventId },
      ConsistentRead: true,
    }),
  );
  return (Items ?? []).filter((i) => i.entry).map((i) => `${i.seq}.${i.rev}`);
}

async function rowsLeft(ids: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (let shard = 0; shard < CONNECTION_SHARDS; shard++) {
    const { Items } = await db.send(
      new QueryCommand({
        TableName: stage.tables.connections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': connectionPartition(event.eventId, shard) },
      }),
    );
    for (const item of Items ?? []) if (ids.includes(String(item.connectionId))) left.push(String(item.connectionId));
  }
  return left;
}

describe('delivery under AWS limits', () => {
  it('gives every still-connected viewer every change exactly once, in order, and forgets the ones that left', async () => {
    const dropped = Array.from({ length: DROPPED }, (_, i) => virtualId(i * 7));
    for (let i = 1; i <= 12; i++) {
      reporter.send({
        action: 'publish',
        clientId: `p${i}`,
        text: `moment ${i}: ${'香鱼'.repeat(i * 40)}`,
        kind: i === 6 ? 'key' : 'text',
      });
      await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === `p${i}`, { timeoutMs: 20_000 });
      if (i === 4) {
        // Phones that drop mid-ceremony: they had been following (each got an update). One that
        // vanished before its first post is a different case: its 410 is "still in the handshake"
        // for the connect grace (worker.ts connectGraceMs, 16 s), retried at growing intervals.
        await expect
          .poll(() => dropped.filter((id) => (received.get(id)?.length ?? 0) === 0), { timeout: 20_000 })
          .toEqual([]);
        stage.ws.removeVirtualConnections(dropped);
      }
      if (i === 8) {
        reporter.send({ action: 'edit', clientId: 'fix', seq: 3, text: 'moment 3, corrected' });
        reporter.send({ action: 'pin', clientId: 'pin', seq: 6, pinned: true });
      }
    }
    await reporter.next((f) => f.type === 'ack' && f.clientId === 'pin', { timeoutMs: 20_000 });
    const expected = await changeLog();
    expect(expected).toHaveLength(14);

    // Real sockets: the same changes, exactly once, in order.
    for (const socket of sockets) {
      const got = await socket.collect<UpdateFrame>((f) => f.type === 'update', 14, { timeoutMs: 60_000 });
      expect(got.map(key)).toEqual(expected);
    }
    await stage.settled(60_000);
    for (let i = 0; i < VIRTUAL; i++) {
      const id = virtualId(i);
      if (dropped.includes(id)) continue;
      expect(received.get(id), id).toEqual(expected);
    }
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(32 * 1024);
    expect(stage.ws.stats().throttled).toBeGreaterThan(0);
    // Delivered by workers outside the stage's process.
    expect(stage.workerPids()).toHaveLength(2);
    expect(stage.workerPids()).not.toContain(process.pid);
    expect(stage.lambda.stats().invocations).toBeGreaterThan(0);
    expect(await rowsLeft(dropped)).toEqual([]);
  });
});
