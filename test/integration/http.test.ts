// The HTTP API and the handshake rules end to end, against the local stage and DynamoDB Local.
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, Entry } from '../../shared/domain/protocol';
import {
  ADMIN_KEY,
  type CreatedEvent,
  createEvent,
  reporterUrl,
  testStage,
  viewerUrl,
  stageDb,
} from '../support/stage';
import { connect, refusedStatus, type TestClient } from '../support/ws-client';

let stage: Stage;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  stage = await testStage();
  db = stageDb(stage);
});
afterAll(async () => {
  db?.destroy();
  await stage?.stop();
});

/** A test may scan; the product never does. */
const eventItems = async () => (await db.send(new ScanCommand({ TableName: stage.tables.events }))).Items ?? [];

const post = (body: string, headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` }) =>
  fetch(`${stage.httpUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

async function errorOf(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.message).not.toMatch(/\s+at\s+\S+|\.ts:\d+/);
  return { status: res.status, code: body.error.code };
}

describe('POST /events', () => {
  it('creates an event for the organiser and returns its operator token once; only the hash is stored', async () => {
    const res = await post(JSON.stringify({ title: '  Sweetfish Festival  ', startsAt: '2026-07-01T09:00:00+08:00' }));
    expect(res.status).toBe(201);
    const created = (await res.json()) as CreatedEvent & { startsAt: string };
    expect(created).toMatchObject({ title: 'Sweetfish Festival', startsAt: '2026-07-01T09:00:00+08:00' });
    expect(created.eventId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(created.operatorToken.length).toBeGreaterThanOrEqual(32);
    expect(Date.parse(created.createdAt)).not.toBeNaN();

    const stored = (await eventItems()).find((i) => i.eventId === created.eventId);
    expect(stored).toBeDefined();
    expect(JSON.stringify(stored)).not.toContain(created.operatorToken);
  });

  it.each([
    ['no key', JSON.stringify({ title: 'x' }), {}, 401, 'unauthorized'],
    [
      'a wrong key',
      JSON.stringify({ title: 'x' }),
      { authorization: 'Bearer not-the-key-at-all-000000' },
      401,
      'unauthorized',
    ],
    ['malformed JSON', '{"title": ', undefined, 400, 'bad_request'],
    ['a missing title', JSON.stringify({}), undefined, 400, 'bad_request'],
    ['a blank title', JSON.stringify({ title: '   ' }), undefined, 400, 'bad_request'],
    ['a number for title', JSON.stringify({ title: 7 }), undefined, 400, 'bad_request'],
    ['a title over 200 characters', JSON.stringify({ title: '鱼'.repeat(201) }), undefined, 400, 'bad_request'],
    [
      'a startsAt that is not ISO-8601',
      JSON.stringify({ title: 'x', startsAt: 'tomorrow' }),
      undefined,
      400,
      'bad_request',
    ],
    ['a body over 16 KB', JSON.stringify({ title: 'x', pad: 'y'.repeat(17 * 1024) }), undefined, 413, 'too_large'],
  ])('refuses %s and creates nothing', async (_name, body, headers, status, code) => {
    const before = (await eventItems()).length;
    expect(await errorOf(await post(body, headers))).toEqual({ status, code });
    expect((await eventItems()).length).toBe(before);
  });
});

describe('GET /events/{id} and the timeline', () => {
  let event: CreatedEvent;

  beforeAll(async () => {
    event = await createEvent(stage, '香鱼节开幕式');
    const reporter = await connect(reporterUrl(stage, event));
    for (let i = 1; i <= 7; i++) {
      reporter.send({ action: 'publish', clientId: `t${i}`, text: `moment ${i}` });
      await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === `t${i}`);
    }
    await reporter.close();
  });

  it('describes the event', async () => {
    const res = await fetch(`${stage.httpUrl}/events/${event.eventId}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      eventId: event.eventId,
      title: '香鱼节开幕式',
      lastSeq: 7,
      viewers: 0,
      createdAt: event.createdAt,
    });
  });

  it('pages through the timeline in seq order with next', async () => {
    const seen: number[] = [];
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline?after=${after}&limit=3`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: Entry[]; next: number | null };
      seen.push(...page.items.map((e) => e.seq));
      after = page.next;
      pages++;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(pages).toBe(3);
  });

  it('defaults to 100 entries from the start', async () => {
    const page = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline`)).json()) as {
      items: Entry[];
      next: null;
    };
    expect(page.items).toHaveLength(7);
    expect(page.next).toBeNull();
  });

  it.each([
    ['limit=0', 400, 'bad_request'],
    ['limit=501', 400, 'bad_request'],
    ['limit=ten', 400, 'bad_request'],
    ['after=-1', 400, 'bad_request'],
  ])('refuses %s', async (query, status, code) => {
    expect(await errorOf(await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline?${query}`))).toEqual({
      status,
      code,
    });
  });

  it('lists every revision of every entry in the order made, paged by change number', async () => {
    const reporter = await connect(reporterUrl(stage, event));
    reporter.send({ action: 'edit', clientId: 'r-edit', seq: 2, text: 'moment 2, corrected' });
    await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === 'r-edit');
    reporter.send({ action: 'delete', clientId: 'r-del', seq: 3 });
    await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === 'r-del');
    await reporter.close();

    const seen: { changeNo: number; seq: number; rev: number; text: string; deleted: boolean }[] = [];
    let after: number | null = 0;
    while (after !== null) {
      const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/revisions?after=${after}&limit=4`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { changeNo: number; entry: Entry }[]; next: number | null };
      seen.push(
        ...page.items.map(({ changeNo, entry: e }) => ({
          changeNo,
          seq: e.seq,
          rev: e.rev,
          text: e.text,
          deleted: e.deleted,
        })),
      );
      after = page.next;
    }
    // In the order made (the change numbers between them went to live stats frames: left out here).
    const changeNos = seen.map((r) => r.changeNo);
    expect(changeNos).toEqual([...changeNos].sort((a, b) => a - b));
    expect(seen.map(({ changeNo: _n, ...r }) => r)).toEqual([
      // Anonymous: the deleted entry 3 keeps its revisions, never its earlier text.
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => ({ seq: i, rev: 1, text: i === 3 ? '' : `moment ${i}`, deleted: false })),
      { seq: 2, rev: 2, text: 'moment 2, corrected', deleted: false },
      { seq: 3, rev: 2, text: '', deleted: true },
    ]);
    expect(await errorOf(await fetch(`${stage.httpUrl}/events/${event.eventId}/revisions?limit=0`))).toEqual({
      status: 400,
      code: 'bad_request',
    });
    expect(await errorOf(await fetch(`${stage.httpUrl}/events/nope/revisions`))).toEqual({
      status: 404,
      code: 'not_found',
    });
  });

  it('answers an unknown event or path with 404 in the contract shape', async () => {
    expect(await errorOf(await fetch(`${stage.httpUrl}/events/nope`))).toEqual({ status: 404, code: 'not_found' });
    expect(await errorOf(await fetch(`${stage.httpUrl}/events/nope/timeline`))).toEqual({
      status: 404,
      code: 'not_found',
    });
    expect(await errorOf(await fetch(`${stage.httpUrl}/no/such/path`))).toEqual({ status: 404, code: 'not_found' });
  });
});

describe('the timeline as the live page reads it', () => {
  let event: CreatedEvent;
  let reporter: TestClient;

  beforeAll(async () => {
    event = await createEvent(stage, 'Lantern parade');
    reporter = await connect(reporterUrl(stage, event));
    for (let i = 1; i <= 3; i++) {
      reporter.send({ action: 'publish', clientId: `p${i}`, text: `lantern ${i}` });
      await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === `p${i}`);
    }
  });
  afterAll(async () => reporter?.close());

  it('may be kept by any cache for 2 s; an error never is', async () => {
    const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline?after=0&limit=500`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=2');
    for (const path of [
      `/events/${event.eventId}/timeline?limit=501`,
      '/events/nope/timeline',
      '/events/%20/timeline',
    ]) {
      const error = await fetch(`${stage.httpUrl}${path}`);
      expect(error.status).toBeGreaterThanOrEqual(400);
      expect(error.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('carries lastChange: a sync from it brings the corrections made after the page was read', async () => {
    const page = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline?limit=500`)).json()) as {
      items: Entry[];
      next: number | null;
      lastChange: number;
    };
    expect(page.items.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(page.lastChange).toBeGreaterThanOrEqual(3);
    // After the read (a cached copy is older still): seq 2 corrected.
    reporter.send({ action: 'edit', clientId: 'fix', seq: 2, text: 'lantern 2, corrected' });
    await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === 'fix');
    const viewer = await connect(viewerUrl(stage, event.eventId));
    viewer.send({ action: 'sync', since: 3, sinceChange: page.lastChange, limit: 100 });
    await viewer.next((f) => f.type === 'synced');
    const caughtUp = viewer.frames.flatMap((f) =>
      f.type === 'update' && f.changeNo === undefined ? [`${f.entry.seq}/${f.entry.rev}`] : [],
    );
    expect(caughtUp).toEqual(['2/2']);
    await viewer.close();
  });
});

describe('the handshake', () => {
  let event: CreatedEvent;
  beforeAll(async () => {
    event = await createEvent(stage);
  });

  it('requires an eventId, refuses unknown events and wrong tokens', async () => {
    expect(await refusedStatus(`${stage.wsUrl}/`)).toBe(401);
    expect(await refusedStatus(viewerUrl(stage, 'no-such-event'))).toBe(403);
    expect(await refusedStatus(`${viewerUrl(stage, event.eventId)}&token=wrong-token`)).toBe(401);
    const other = await createEvent(stage);
    expect(await refusedStatus(`${viewerUrl(stage, event.eventId)}&token=${other.operatorToken}`)).toBe(401);
  });

  it('makes the operator token holder the reporter', async () => {
    const reporter = await connect(reporterUrl(stage, event));
    reporter.send({ action: 'publish', clientId: 'hello', text: 'hello' });
    expect(await reporter.next((f) => f.type === 'ack')).toMatchObject({ clientId: 'hello', seq: 1 });
    await reporter.close();
  });

  it('counts viewers as they connect and disconnect (the reporter is not a viewer)', async () => {
    const viewersNow = async () =>
      ((await (await fetch(`${stage.httpUrl}/events/${event.eventId}`)).json()) as { viewers: number }).viewers;
    // The default poll timeout (10 s) is about what the old loop allowed: 200 tries, each a fetch and 25 ms.
    const until = (n: number) => expect.poll(viewersNow, { interval: 25 }).toBe(n);
    const reporter = await connect(reporterUrl(stage, event));
    const viewers: TestClient[] = await Promise.all([1, 2, 3].map(() => connect(viewerUrl(stage, event.eventId))));
    // Counted from the Connections stream: it follows the connects within a poll of it.
    await until(3);
    await viewers[0]!.close();
    await viewers[1]!.close();
    await until(1);
    await viewers[2]!.close();
    await reporter.close();
    await until(0);
  });
});
