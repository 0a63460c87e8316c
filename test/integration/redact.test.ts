// Private deletions and the organiser's redaction, end to end on the real local stage: a phone
// number posted by mistake in a 2,000-character Chinese entry, corrected many times (more than one
// 1 MB DynamoDB page of its revisions) and deleted, must not be readable by anyone afterwards; the
// organiser still reads it until the redaction, after which it is in no table of the stage at all.
import { GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { scanPages } from '../../shared/adapters/dynamo-paging';
import type { AckFrame, Entry, Revision, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import {
  ADMIN_KEY,
  type CreatedEvent,
  createEvent,
  reporterUrl,
  stageDb,
  testStage,
  viewerUrl,
} from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

/** Posted by mistake in entry 1, which is then corrected EDITS times and deleted by the reporter. */
const PHONE_DELETED = '+86 138 0013 8000';
/** Posted by mistake in an entry still live when the organiser redacts it. */
const PHONE_LIVE = '+86 139 0024 9111';
/** 1 + EDITS revisions of ~6 KB (2,000 characters, 3 bytes each in UTF-8): over 1 MB, more than one Query page. */
const EDITS = 190;
/** Short entries after them, so one page of revisions names over 100 entries (BatchGetItem's limit). */
const FILLERS = 110;

/** 2,000 characters: the number first, then Chinese text; numbered so every revision differs. */
const longText = (n: number, phone: string) =>
  `第${n}版 请联系 ${phone} ${'鲇鱼节开幕式龙舟'.repeat(250)}`.slice(0, 2000);

let stage: Stage;
let db: DynamoDBDocumentClient;
let event: CreatedEvent;
let reporter: TestClient;
let viewer: TestClient;
/** Seqs: the deleted entry is 1, the live one with a number comes after the fillers. */
const DELETED = 1;
const LIVE = FILLERS + 2;

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

beforeAll(async () => {
  stage = await testStage();
  db = stageDb(stage);
  event = await createEvent(stage);
  reporter = await connect(reporterUrl(stage, event));
  viewer = await connect(viewerUrl(stage, event.eventId));
  viewer.send({ action: 'sync', since: 0 });
  await viewer.next((f) => f.type === 'synced');

  // Sent in bursts, acks awaited at the end of each: the stage handles one connection's messages in
  // order. Past the reporter's allowance (100 edits per 10 s) the refused frames go again after the
  // server's retryAfterMs, as the console's outbox does (same clientId: safe to repeat).
  const burst = async (all: (Record<string, unknown> & { clientId: string })[]) => {
    let frames = all;
    while (frames.length > 0) {
      const answers = new Map<string, ServerFrame>();
      const ids = new Set(frames.map((f) => f.clientId));
      const from = reporter.frames.length; // only this round's answers
      for (const f of frames) reporter.send(f);
      const got = await reporter.collect<ServerFrame & { clientId?: string }>(
        (f) => (f.type === 'ack' || f.type === 'error') && ids.has((f as AckFrame).clientId),
        frames.length,
        { timeoutMs: 240_000, from },
      );
      for (const f of got) answers.set(f.clientId!, f);
      const refused = [...answers.values()].filter((a) => a.type === 'error');
      const limited = refused.filter((a) => a.type === 'error' && a.code === 'rate_limited');
      if (refused.length > limited.length) throw new Error(`refused: ${JSON.stringify(refused.slice(0, 3))}`);
      if (limited.length === 0) return;
      await sleep(Math.max(...limited.map((a) => (a.type === 'error' ? (a.retryAfterMs ?? 1_000) : 0))) + 100);
      frames = frames.filter((f) => answers.get(f.clientId)?.type === 'error');
    }
  };
  await burst([{ action: 'publish', clientId: 'p1', text: longText(0, PHONE_DELETED) }]);
  await burst(
    Array.from({ length: EDITS }, (_, i) => ({
      action: 'edit',
      clientId: `e1-${i + 1}`,
      seq: DELETED,
      text: longText(i + 1, PHONE_DELETED),
    })),
  );
  await burst(
    Array.from({ length: FILLERS }, (_, i) => ({
      action: 'publish',
      clientId: `f${i + 2}`,
      text: `filler ${i + 2}: 龙舟第${i + 2}号`,
    })),
  );
  await burst([{ action: 'publish', clientId: 'p-live', text: longText(0, PHONE_LIVE) }]);
  await burst([{ action: 'delete', clientId: 'd1', seq: DELETED }]);
}, 600_000);

afterAll(async () => {
  await Promise.all([reporter?.close(), viewer?.close()]);
  db?.destroy();
  await stage?.stop();
});

/** Every page of a paged route from `after` 0, following `next`; the raw bodies too. */
async function pageThrough<T>(path: string, limit: number, headers: Record<string, string> = {}) {
  const items: T[] = [];
  const bodies: string[] = [];
  for (let after: number | null = 0, pages = 0; after !== null; pages++) {
    if (pages > 200) throw new Error('next never became null');
    const res = await fetch(`${stage.httpUrl}${path}?after=${after}&limit=${limit}`, { headers });
    const body = await res.text();
    expect(res.status, body.slice(0, 300)).toBe(200);
    bodies.push(body);
    const page = JSON.parse(body) as { items: T[]; next: number | null };
    items.push(...page.items);
    after = page.next;
  }
  return { items, bodies, pages: bodies.length };
}

const revisionsPath = () => `/events/${event.eventId}/revisions`;
const redact = (seq: string | number, headers: Record<string, string> = admin, eventId = event.eventId) =>
  fetch(`${stage.httpUrl}/events/${eventId}/entries/${seq}/redact`, { method: 'POST', headers });
const errorCode = async (res: Response) => ({
  status: res.status,
  code: ((await res.json()) as { error: { code: string } }).error.code,
});
const lastChange = async () =>
  Number(
    (
      await db.send(
        new GetCommand({ TableName: stage.tables.events, Key: { eventId: event.eventId }, ConsistentRead: true }),
      )
    ).Item?.lastChange,
  );

/** Every item of every table of the stage, read with the Scan paginator (a test may scan; the product never does). */
async function everyItem(): Promise<{ table: string; json: string }[]> {
  const found: { table: string; json: string }[] = [];
  for (const table of Object.values(stage.tables)) {
    for await (const page of scanPages(db, { TableName: table, ConsistentRead: true })) {
      for (const item of page) found.push({ table, json: JSON.stringify(item) });
    }
  }
  return found;
}

describe('after the reporter deletes an entry', () => {
  it('its revisions fill more than one DynamoDB page (the premise: the scrub and the reads must page)', async () => {
    const page = await db.send(
      new QueryCommand({
        TableName: stage.tables.changes,
        KeyConditionExpression: 'eventId = :e',
        ExpressionAttributeValues: { ':e': event.eventId },
        Limit: EDITS + 1,
      }),
    );
    expect(page.Count).toBeLessThan(EDITS + 1);
    expect(page.LastEvaluatedKey).toBeDefined();
  });

  it('anyone’s revisions, one page or paged, hold its history without the number; the live entry’s text stays', async () => {
    for (const limit of [500, 40]) {
      const { items, bodies, pages } = await pageThrough<Revision>(revisionsPath(), limit);
      for (const body of bodies) expect(body).not.toContain(PHONE_DELETED);
      const ofDeleted = items.filter((r) => r.entry.seq === DELETED);
      expect(ofDeleted.map((r) => r.entry.rev)).toEqual(Array.from({ length: EDITS + 2 }, (_, i) => i + 1));
      expect(ofDeleted.every((r) => r.entry.text === '')).toBe(true);
      expect(items.find((r) => r.entry.seq === LIVE)?.entry.text).toBe(longText(0, PHONE_LIVE));
      expect(items.find((r) => r.entry.seq === 2)?.entry.text).toBe('filler 2: 龙舟第2号');
      expect(items).toHaveLength(EDITS + 2 + FILLERS + 1);
      if (limit === 40) expect(pages).toBeGreaterThan(5);
    }
  });

  it('the organiser’s revisions (admin key) hold every revision as written', async () => {
    const { items } = await pageThrough<Revision>(revisionsPath(), 500, admin);
    const ofDeleted = items.filter((r) => r.entry.seq === DELETED);
    expect(ofDeleted.map((r) => r.entry.text)).toEqual([
      ...Array.from({ length: EDITS + 1 }, (_, i) => longText(i, PHONE_DELETED)),
      '',
    ]);
  });

  it('a wrong or malformed key is refused 401, never read as anonymous', async () => {
    for (const authorization of ['Bearer not-the-key', 'Bearer', 'Basic abc', '']) {
      const res = await fetch(`${stage.httpUrl}${revisionsPath()}`, { headers: { authorization } });
      expect(await errorCode(res), authorization).toEqual({ status: 401, code: 'unauthorized' });
    }
  });
});

describe('the organiser’s redaction', () => {
  it('refuses a missing or wrong key, a bad seq, an unknown entry or event, changing nothing', async () => {
    const before = await lastChange();
    expect(await errorCode(await redact(DELETED, {}))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await errorCode(await redact(DELETED, { authorization: 'Bearer wrong' }))).toEqual({
      status: 401,
      code: 'unauthorized',
    });
    for (const seq of ['abc', '0', '-1', '1.5', '1e3', '01', '99999999999999999999']) {
      expect(await errorCode(await redact(seq)), seq).toEqual({ status: 400, code: 'bad_request' });
    }
    expect(await errorCode(await redact(9999))).toEqual({ status: 404, code: 'not_found' });
    expect(await errorCode(await redact(DELETED, admin, 'NoSuchEvent1'))).toEqual({ status: 404, code: 'not_found' });
    expect(await lastChange()).toBe(before);
    const { bodies } = await pageThrough<Revision>(revisionsPath(), 500, admin);
    expect(bodies.join('')).toContain(PHONE_DELETED);
  });

  it('removes the number from every table, the live pages, the timeline and every revision (the organiser’s too)', async () => {
    // Act: the deleted entry, then the live one; the live one twice (safe to repeat).
    const from = viewer.frames.length;
    const deleted = await redact(DELETED);
    expect(deleted.status).toBe(200);
    expect(((await deleted.json()) as { entry: Entry }).entry).toMatchObject({
      seq: DELETED,
      rev: EDITS + 3,
      deleted: true,
      text: '',
      redacted: true,
    });
    const live = await redact(LIVE);
    expect(live.status).toBe(200);
    const liveEntry = ((await live.json()) as { entry: Entry }).entry;
    expect(liveEntry).toMatchObject({ seq: LIVE, rev: 2, deleted: true, text: '', pinned: false, redacted: true });
    const at = await lastChange();
    const again = await redact(LIVE);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { entry: Entry }).entry).toEqual(liveEntry);
    expect(await lastChange()).toBe(at);

    // A connected viewer is sent the change that takes the number off its page, as for a delete.
    const update = await viewer.next<UpdateFrame>(
      (f) => f.type === 'update' && f.entry.seq === LIVE && f.entry.deleted,
      { from, timeoutMs: 60_000 },
    );
    expect(update.entry).toMatchObject({ rev: 2, text: '', redacted: true });

    // Stored nowhere: every item of every table, read to the end.
    const items = await everyItem();
    expect(items.filter((i) => i.table === stage.tables.changes).length).toBeGreaterThanOrEqual(EDITS + FILLERS + 5);
    expect(items.some((i) => i.json.includes('filler 2: 龙舟第2号'))).toBe(true); // the scan does read the texts
    const leaks = items.filter((i) => i.json.includes(PHONE_DELETED) || i.json.includes(PHONE_LIVE));
    expect(leaks.map((i) => `${i.table}: ${i.json.slice(0, 120)}`)).toEqual([]);

    // Shown nowhere: the timeline, anyone's revisions, the organiser's revisions.
    const timeline = await pageThrough<Entry>(`/events/${event.eventId}/timeline`, 100);
    const anyone = await pageThrough<Revision>(revisionsPath(), 40);
    const organiser = await pageThrough<Revision>(revisionsPath(), 500, admin);
    for (const body of [...timeline.bodies, ...anyone.bodies, ...organiser.bodies]) {
      expect(body).not.toContain(PHONE_DELETED);
      expect(body).not.toContain(PHONE_LIVE);
    }
    expect(timeline.items.find((e) => e.seq === DELETED)).toMatchObject({ deleted: true, text: '', redacted: true });
    const scrubbed = organiser.items.filter((r) => r.entry.seq === DELETED || r.entry.seq === LIVE);
    expect(scrubbed).toHaveLength(EDITS + 3 + 2);
    expect(scrubbed.every((r) => r.entry.text === '' && r.entry.redacted === true)).toBe(true);
    // The rest of the history is the organiser's as before.
    expect(organiser.items.find((r) => r.entry.seq === 2)?.entry.text).toBe('filler 2: 龙舟第2号');
  });
});
