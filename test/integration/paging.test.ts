// Reads past DynamoDB's 1 MB pages, end to end on the real local stage: a change log of a few hundred
// 2,000-character Chinese entries (~6 KB each in UTF-8, ~1.5 MB in all), then a correction and a
// deletion after them. A returning viewer's catch-up, the revisions export and the timeline must
// each reach the end of it.
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { changeItem, DynamoEntryStore, entryItem } from '../../shared/adapters/dynamo-entry-store';
import { DynamoEventStore } from '../../shared/adapters/dynamo-event-store';
import { newEntry } from '../../shared/domain/entry';
import type { EventRecord } from '../../shared/domain/ports';
import type { AckFrame, Entry, Revision, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import { type CreatedEvent, createEvent, reporterUrl, testStage, viewerUrl, stageDb } from '../support/stage';
import { type TestClient, OpenClients } from '../support/ws-client';

/** Entries after the ones the viewer holds: enough that one Query page (1 MB) cannot hold their changes. */
const LONG = 250;
const HELD = 3;
/** 2,000 characters, 3 bytes each in UTF-8, numbered so every entry differs. */
const longText = (i: number) => `${String(i).padStart(4, '0')}${'鲇鱼节开幕式龙舟'.repeat(250)}`.slice(0, 2000);

let stage: Stage;
let db: DynamoDBDocumentClient;
let event: CreatedEvent;
let reporter: TestClient;
/** The last change the viewer had seen when it went away. */
let heldChange: number;
const clients = new OpenClients();

const client = clients.connect;

const isAck = (clientId: string) => (f: ServerFrame) => f.type === 'ack' && f.clientId === clientId;

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(`${stage.httpUrl}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** Every page from `after` 0, following `next` until null; also how many pages it took. */
async function pageThrough<T>(path: string, limit: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pages = 0;
  for (let after: number | null = 0; after !== null; pages++) {
    const page: { items: T[]; next: number | null } = await getJson(`${path}?after=${after}&limit=${limit}`);
    items.push(...page.items);
    after = page.next;
  }
  return { items, pages };
}

beforeAll(async () => {
  stage = await testStage();
  db = stageDb(stage);
  event = await createEvent(stage);
  reporter = await client(reporterUrl(stage, event));
  const publish = async (clientId: string, text: string) => {
    reporter.send({ action: 'publish', clientId, text });
    return reporter.next<AckFrame>(isAck(clientId), { timeoutMs: 30_000 });
  };

  // A viewer holds the first few entries and knows the change it had reached, then goes away.
  for (let i = 1; i <= HELD; i++) await publish(`held-${i}`, `held ${i}`);
  const viewer = await client(viewerUrl(stage, event.eventId));
  viewer.send({ action: 'sync', since: 0 });
  const synced = await viewer.next((f) => f.type === 'synced');
  heldChange = synced.type === 'synced' ? synced.lastChange! : NaN;
  await viewer.close();

  // While it is away: a stretch of long entries, written straight to the tables in batches (250
  // publishes over the socket took ~40 s on the loaded test machine, 250 store transactions ~77 s,
  // the batches ~20 s); what is under test here is the read paths.
  await writeLongEntries(LONG);
  // ... then a correction and a deletion of entries it holds, after all of them.
  reporter.send({ action: 'edit', clientId: 'fix-1', seq: 1, text: 'held 1, corrected' });
  await reporter.next(isAck('fix-1'));
  reporter.send({ action: 'delete', clientId: 'del-2', seq: 2 });
  await reporter.next(isAck('del-2'));
}, 180_000);

/**
 * Adds `n` long entries as publishes leave them (the entry, its change-log line, the event's
 * counters) in a few batch writes. The counters move first, on the condition that they are still
 * where they were read, so nothing else (a viewer-count frame) can take those seqs and change numbers.
 */
async function writeLongEntries(n: number) {
  const events = new DynamoEventStore(db, stage.tables.events);
  let from: EventRecord | undefined;
  while (!from) {
    const current = await events.get(event.eventId);
    if (!current) throw new Error('the event is gone');
    try {
      await db.send(
        new UpdateCommand({
          TableName: stage.tables.events,
          Key: { eventId: event.eventId },
          UpdateExpression: 'SET lastSeq = :seq, lastChange = :change',
          ConditionExpression: 'lastSeq = :wasSeq AND lastChange = :wasChange',
          ExpressionAttributeValues: {
            ':seq': current.lastSeq + n,
            ':change': current.lastChange + n,
            ':wasSeq': current.lastSeq,
            ':wasChange': current.lastChange,
          },
        }),
      );
      from = current;
    } catch (err) {
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    }
  }
  const now = new Date();
  const puts = Array.from({ length: n }, (_, k) => {
    const entry = newEntry(from.lastSeq + k + 1, { kind: 'text', text: longText(k + 1) }, now);
    return [
      { table: stage.tables.entries, Item: entryItem(event.eventId, entry, `long-${k + 1}`) },
      { table: stage.tables.changes, Item: changeItem(event.eventId, from.lastChange + k + 1, entry, 'publish') },
    ];
  }).flat();
  // BatchWriteItem takes 25 items; a few batches at once (the rows are independent).
  const batches = Array.from({ length: Math.ceil(puts.length / 25) }, (_, b) => puts.slice(b * 25, b * 25 + 25));
  const writeBatch = async (batch: typeof puts) => {
    let request: BatchWriteCommandInput['RequestItems'] = {};
    for (const { table, Item } of batch) (request[table] ??= []).push({ PutRequest: { Item } });
    while (request && Object.keys(request).length > 0) {
      request = (await db.send(new BatchWriteCommand({ RequestItems: request }))).UnprocessedItems;
    }
  };
  const workers = Array.from({ length: 4 }, async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) await writeBatch(batch);
  });
  await Promise.all(workers);
}

afterAll(async () => {
  await clients.closeAll();
  db?.destroy();
  await stage?.stop();
});

describe('more than 1 MB of changes', () => {
  it('is more than one DynamoDB page (the premise of the tests below)', async () => {
    const page = await db.send(
      new QueryCommand({
        TableName: stage.tables.changes,
        KeyConditionExpression: 'eventId = :e',
        ExpressionAttributeValues: { ':e': event.eventId },
        Limit: 200,
      }),
    );
    expect(page.Count).toBeLessThan(200);
    expect(page.LastEvaluatedKey).toBeDefined();
  });

  it('the entry store reads the change log up to `limit`, across pages', async () => {
    const store = new DynamoEntryStore(db, stage.tables);
    const lines = await store.changesAfter(event.eventId, 0, 200);
    expect(lines.map((l) => l.changeNo)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('a returning viewer’s sync with sinceChange brings the missed entries and then the correction and deletion, before synced', async () => {
    const viewer = await client(viewerUrl(stage, event.eventId));
    viewer.send({ action: 'sync', since: HELD, sinceChange: heldChange });
    await viewer.next((f) => f.type === 'synced', { timeoutMs: 30_000 });
    const frames = viewer.frames.filter((f) => f.type === 'update' || f.type === 'synced');
    const catchUp = frames.slice(0, frames.findIndex((f) => f.type === 'synced') + 1);
    const updates = catchUp.filter((f): f is UpdateFrame => f.type === 'update').map((f) => f.entry);

    expect(updates.find((e) => e.seq === 1)).toMatchObject({ rev: 2, text: 'held 1, corrected' });
    expect(updates.find((e) => e.seq === 2)).toMatchObject({ rev: 2, deleted: true, text: '' });
    expect(updates.some((e) => e.seq === 3)).toBe(false);
    const missed = updates.filter((e) => e.seq > HELD);
    expect(missed.map((e) => e.seq)).toEqual(Array.from({ length: LONG }, (_, i) => HELD + i + 1));
    expect(missed.every((e, i) => e.text === longText(i + 1))).toBe(true);
    const synced = catchUp.at(-1);
    expect(synced).toMatchObject({ type: 'synced', lastSeq: HELD + LONG });
    // It reflects the deletion: every change up to it is in what the viewer now holds.
    expect(synced?.type === 'synced' && synced.lastChange).toBeGreaterThanOrEqual(heldChange + LONG + 2);
  });

  it('GET /revisions?limit=500 returns every revision on one page, and next is null', async () => {
    const page = await getJson<{ items: Revision[]; next: number | null }>(
      `/events/${event.eventId}/revisions?limit=500`,
    );
    expect(revisionKeys(page.items)).toEqual(expectedRevisions());
    expect(page.next).toBeNull();
  });

  it('GET /revisions followed by next, 200 at a time, reaches every revision in change order', async () => {
    const { items, pages } = await pageThrough<Revision>(`/events/${event.eventId}/revisions`, 200);
    expect(revisionKeys(items)).toEqual(expectedRevisions());
    const changeNos = items.map((r) => r.changeNo);
    expect(changeNos).toEqual([...changeNos].sort((a, b) => a - b));
    expect(pages).toBeGreaterThanOrEqual(2);
  });

  it('GET /timeline?limit=500 returns the whole timeline, and followed by next 200 at a time the same', async () => {
    const page = await getJson<{ items: Entry[]; next: number | null }>(`/events/${event.eventId}/timeline?limit=500`);
    expect(page.items.map((e) => e.seq)).toEqual(Array.from({ length: HELD + LONG }, (_, i) => i + 1));
    expect(page.items[1]).toMatchObject({ seq: 2, deleted: true, rev: 2 });
    expect(page.next).toBeNull();
    const { items } = await pageThrough<Entry>(`/events/${event.eventId}/timeline`, 200);
    expect(items).toEqual(page.items);
  });
});

/** Every revision made, as "seq/rev", in the order they were made. */
function expectedRevisions(): string[] {
  return [
    ...Array.from({ length: HELD }, (_, i) => `${i + 1}/1`),
    ...Array.from({ length: LONG }, (_, i) => `${HELD + i + 1}/1`),
    '1/2',
    '2/2',
  ];
}

const revisionKeys = (items: Revision[]) => items.map((r) => `${r.entry.seq}/${r.entry.rev}`);
