// The viewer count on the real local stage: a wave of connects while the reporter publishes never
// writes the event's item (the item every publish writes), and the count is exact at the end,
// counting the rows that went without a $disconnect. The stage does not run TTL (DynamoDB Local
// does not expire items on its own), so those rows are deleted here the way TTL deletes them: a
// plain DeleteItem, whose REMOVE reaches the Connections stream like any other.
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, ServerFrame, StatsFrame } from '../../shared/domain/protocol';
import { connectionPartition } from '../../shared/domain/sharding';
import { CONNECTION_SHARDS } from '../../shared/domain/sharding';
import { createEvent, reporterUrl, stageDb, testStage, viewerUrl, type CreatedEvent } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

const WAVE = 40;
const PUBLISHES = 10;
const CLOSED = 10;
const EXPIRED = 6;

let stage: Stage;
let db: DynamoDBDocumentClient;
let event: CreatedEvent;
const clients: TestClient[] = [];
/** A viewer there from before the wave, whose row is never removed: it must hear the final count. */
let watcher: TestClient;
let watcherId: string;

beforeAll(async () => {
  stage = await testStage();
  db = stageDb(stage);
  event = await createEvent(stage);
});
afterAll(async () => {
  await Promise.all([...clients, watcher].map((c) => c?.close().catch(() => {})));
  db?.destroy();
  await stage?.stop();
});

const eventItem = async () =>
  (
    await db.send(
      new GetCommand({ TableName: stage.tables.events, Key: { eventId: event.eventId }, ConsistentRead: true }),
    )
  ).Item ?? {};
const viewersNow = async () =>
  ((await (await fetch(`${stage.httpUrl}/events/${event.eventId}`)).json()) as { viewers: number }).viewers;

/** The event's connection rows of viewers, as delivery would find them. */
async function viewerRows(): Promise<{ pk: string; connectionId: string }[]> {
  const rows: { pk: string; connectionId: string }[] = [];
  for (let shard = 0; shard < CONNECTION_SHARDS; shard++) {
    const pages = paginateQuery(
      { client: db },
      {
        TableName: stage.tables.connections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': connectionPartition(event.eventId, shard) },
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? [])
        if (item.role === 'viewer') rows.push({ pk: String(item.pk), connectionId: String(item.connectionId) });
  }
  return rows;
}

describe('the viewer count, off the event item', () => {
  it(
    'a wave of connects while the reporter publishes never writes the event item, and every publish is acked',
    { timeout: 120_000 },
    async () => {
      const reporter = await connect(reporterUrl(stage, event));
      watcher = await connect(viewerUrl(stage, event.eventId));
      watcherId = (await viewerRows())[0]!.connectionId;
      const before = await eventItem();

      const wave = Promise.all(Array.from({ length: WAVE }, () => connect(viewerUrl(stage, event.eventId))));
      const acks: ServerFrame[] = [];
      for (let i = 1; i <= PUBLISHES; i++) {
        reporter.send({ action: 'publish', clientId: `wave-${i}`, text: `第${i}条：开幕式` });
        acks.push(
          await reporter.next(
            (f) => (f.type === 'ack' || f.type === 'error') && (f as AckFrame).clientId === `wave-${i}`,
            { timeoutMs: 30_000 },
          ),
        );
      }
      clients.push(...(await wave));

      expect(acks.map((a) => a.type)).toEqual(Array(PUBLISHES).fill('ack'));
      await stage.settled();
      // Publishes move lastSeq and lastChange, stats lines (at most one a second) lastChange and
      // framedAt; nothing else on the item moved — no counter a connect had to write with its row.
      const { lastSeq: _s, lastChange: _c, framedAt: _f, ...rest } = await eventItem();
      const { lastSeq: _s0, lastChange: _c0, framedAt: _f0, ...restBefore } = before;
      expect(rest).toEqual(restBefore);
      expect(await viewersNow()).toBe(WAVE + 1);
      await reporter.close();
    },
  );

  it(
    'is exact after disconnects and rows removed without a $disconnect (as TTL removes them)',
    { timeout: 120_000 },
    async () => {
      await Promise.all(clients.slice(0, CLOSED).map((c) => c.close()));
      await stage.settled();
      // Rows whose $disconnect never came: TTL deletes them; their sockets stay open here (on AWS they are long gone).
      const left = (await viewerRows()).filter((r) => r.connectionId !== watcherId);
      expect(left).toHaveLength(WAVE - CLOSED);
      for (const key of left.slice(0, EXPIRED))
        await db.send(new DeleteCommand({ TableName: stage.tables.connections, Key: key }));
      await stage.settled();

      const want = 1 + WAVE - CLOSED - EXPIRED;
      expect(await viewersNow()).toBe(want);
      // The viewers hear it too: a stats frame with the exact count reaches the watcher.
      const stats = await watcher
        .next<StatsFrame>((f) => f.type === 'stats' && f.viewers === want, { timeoutMs: 30_000 })
        .catch(() => undefined);
      const shown = watcher.frames.filter((f): f is StatsFrame => f.type === 'stats').at(-1)?.viewers;
      expect(stats?.viewers ?? shown).toBe(want);
    },
  );
});
