// sync with a limit, end to end: a long event caught up a page at a time through the real stage.
import { BatchWriteCommand, type BatchWriteCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { changeItem, entryItem } from '../../shared/adapters/dynamo-entry-store';
import { newEntry } from '../../shared/domain/entry';
import type { AckFrame, ErrorFrame, ServerFrame, SyncedFrame } from '../../shared/domain/protocol';
import { type CreatedEvent, createEvent, reporterUrl, stageDb, testStage, viewerUrl } from '../support/stage';
import { type TestClient, OpenClients } from '../support/ws-client';

const ENTRIES = 600;

let stage: Stage;
let event: CreatedEvent;
let reporter: TestClient;
const clients = new OpenClients();

const client = clients.connect;

let n = 0;
async function write(frame: Record<string, unknown>): Promise<AckFrame> {
  const clientId = `w${++n}`;
  const from = reporter.frames.length;
  reporter.send({ ...frame, clientId });
  const ack = await reporter.next(
    (f) => (f.type === 'ack' || f.type === 'error') && 'clientId' in f && f.clientId === clientId,
    { from, timeoutMs: 20_000 },
  );
  if (ack.type !== 'ack' || !('rev' in ack)) throw new Error(`refused: ${JSON.stringify(ack)}`);
  return ack;
}

beforeAll(async () => {
  stage = await testStage();
  event = await createEvent(stage, 'A long afternoon of dragon boat heats');
  // Seeded before any socket opens: a connection's viewer-count frame takes a change number too, and
  // one that landed first made the seed's condition (lastChange = 0) fail (seen once in CI).
  await seedEntries(ENTRIES);
  reporter = await client(reporterUrl(stage, event));
}, 120_000);

/**
 * Entries 1..n written straight to the tables as n publishes would leave them (the event's counters,
 * the entries, their change-log lines), in batches: 600 publishes over the socket took 80 s on the
 * loaded test machine. What is under test here is sync's read side.
 */
async function seedEntries(count: number) {
  const db = stageDb(stage);
  await db.send(
    new UpdateCommand({
      TableName: stage.tables.events,
      Key: { eventId: event.eventId },
      UpdateExpression: 'SET lastSeq = :n, lastChange = :n',
      ConditionExpression: 'lastSeq = :zero AND lastChange = :zero',
      ExpressionAttributeValues: { ':n': count, ':zero': 0 },
    }),
  );
  const now = new Date();
  const puts = Array.from({ length: count }, (_, k) => {
    const entry = newEntry(k + 1, { kind: 'text', text: `heat ${k + 1}` }, now);
    return [
      { table: stage.tables.entries, Item: entryItem(event.eventId, entry, `seed-${k + 1}`) },
      { table: stage.tables.changes, Item: changeItem(event.eventId, k + 1, entry, 'publish') },
    ];
  }).flat();
  for (let b = 0; b < puts.length; b += 25) {
    let request: BatchWriteCommandInput['RequestItems'] = {};
    for (const { table, Item } of puts.slice(b, b + 25)) (request[table] ??= []).push({ PutRequest: { Item } });
    while (request && Object.keys(request).length > 0)
      request = (await db.send(new BatchWriteCommand({ RequestItems: request }))).UnprocessedItems;
  }
  db.destroy();
}

afterAll(async () => {
  await clients.closeAll();
  await stage?.stop();
});

/** Sends one sync and returns what it answered: the updates' "seq/rev" in order, and its synced. */
async function sync(
  viewer: TestClient,
  frame: Record<string, unknown>,
): Promise<{ updates: string[]; synced: SyncedFrame }> {
  const from = viewer.frames.length;
  viewer.send({ action: 'sync', ...frame });
  const synced = await viewer.next<SyncedFrame>((f) => f.type === 'synced', { from, timeoutMs: 30_000 });
  const end = viewer.frames.indexOf(synced, from);
  const updates = viewer.frames
    .slice(from, end)
    .flatMap((f: ServerFrame) =>
      f.type === 'update' && f.changeNo === undefined ? [`${f.entry.seq}/${f.entry.rev}`] : [],
    );
  return { updates, synced };
}

const seqs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}/1`);

describe('sync with a limit', () => {
  it(`sends at most limit entries and says where to go on: ${ENTRIES} entries in two replies`, async () => {
    const viewer = await client(viewerUrl(stage, event.eventId));
    const first = await sync(viewer, { since: 0, limit: 500 });
    expect(first.updates).toEqual(seqs(1, 500));
    // lastChange: the publishes, and the viewer-count stats that travel the same change log.
    expect(first.synced).toEqual({ type: 'synced', lastSeq: ENTRIES, lastChange: expect.any(Number), next: 500 });
    expect(first.synced.lastChange).toBeGreaterThanOrEqual(ENTRIES);

    const rest = await sync(viewer, { since: 500, sinceChange: first.synced.lastChange, limit: 500 });
    expect(rest.updates).toEqual(seqs(501, ENTRIES));
    expect(rest.synced).toEqual({ type: 'synced', lastSeq: ENTRIES, lastChange: expect.any(Number), next: null });
  });

  it('without limit answers as v1 does: every entry after since, and synced without next', async () => {
    const viewer = await client(viewerUrl(stage, event.eventId));
    const all = await sync(viewer, { since: 0 });
    expect(all.updates).toEqual(seqs(1, ENTRIES));
    expect(all.synced).toEqual({ type: 'synced', lastSeq: ENTRIES, lastChange: expect.any(Number) });
  });

  it('counts the held entries corrected meanwhile toward the limit, and goes on from where the change log was cut', async () => {
    const viewer = await client(viewerUrl(stage, event.eventId));
    const before = await sync(viewer, { since: ENTRIES, limit: 1 });
    expect(before.updates).toEqual([]);
    const held = before.synced.lastChange!;
    // Away: three held entries corrected (one twice), and one new.
    await write({ action: 'edit', seq: 3, text: 'heat 3, corrected' });
    await write({ action: 'edit', seq: 1, text: 'heat 1, corrected' });
    await write({ action: 'edit', seq: 3, text: 'heat 3, corrected again' });
    await write({ action: 'delete', seq: 2 });
    await write({ action: 'publish', text: 'the final' });

    const pages: string[][] = [];
    const cursor = { since: ENTRIES, sinceChange: held };
    for (let i = 0; i < 10; i++) {
      const page = await sync(viewer, { ...cursor, limit: 2 });
      pages.push(page.updates);
      expect(page.updates.length).toBeLessThanOrEqual(2);
      if (page.synced.next === null) break;
      Object.assign(cursor, { since: page.synced.next, sinceChange: page.synced.lastChange });
    }
    // The log's first two entries (3 and 1; 3's second correction comes with it), then the deletion
    // and the new entry: each entry's newest revision, nothing lost, nothing new before the corrections.
    expect(pages).toEqual([
      ['1/2', '3/3'],
      ['2/2', `${ENTRIES + 1}/1`],
    ]);
  });

  it.each([
    ['a limit of 0', { since: 0, limit: 0 }],
    ['a limit over 500', { since: 0, limit: 501 }],
    ['a fractional limit', { since: 0, limit: 1.5 }],
    ['a string limit', { since: 0, limit: '10' }],
  ])('refuses %s with bad_request, sending nothing else', async (_name, frame) => {
    const viewer = await client(viewerUrl(stage, event.eventId));
    const from = viewer.frames.length;
    viewer.send({ action: 'sync', ...frame });
    const error = await viewer.next<ErrorFrame>((f) => f.type === 'error', { from });
    expect(error.code).toBe('bad_request');
    expect(error.message).toMatch(/limit/);
    // The connection still answers, and that refusal sent no update and no synced.
    viewer.send({ action: 'ping' });
    await viewer.next((f) => f.type === 'pong', { from });
    expect(viewer.frames.slice(from).filter((f) => f.type === 'update' || f.type === 'synced')).toEqual([]);
  });
});
