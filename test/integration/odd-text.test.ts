// Odd text end to end (issue 11, item 7): blank text, malformed Unicode, control and bidi-override
// characters are refused with bad_request on the real local stage, and nothing of them is stored,
// logged or delivered.
import { paginateQuery, paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, Entry, ErrorFrame, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import {
  ADMIN_KEY,
  type CreatedEvent,
  createEvent,
  reporterUrl,
  stageDb,
  testStage,
  viewerUrl,
} from '../support/stage';
import { type TestClient, OpenClients } from '../support/ws-client';

let stage: Stage;
let db: DynamoDBDocumentClient;
const clients = new OpenClients();

beforeAll(async () => {
  stage = await testStage();
  db = stageDb(stage);
});
afterAll(async () => {
  await clients.closeAll();
  db?.destroy();
  await stage?.stop();
});

const client = clients.connect;

async function timeline(eventId: string): Promise<Entry[]> {
  const res = await fetch(`${stage.httpUrl}/events/${eventId}/timeline?limit=500`);
  return ((await res.json()) as { items: Entry[] }).items;
}

/** The entry lines of the event's change log ("seq.rev"), read from DynamoDB Local. */
async function changeLog(eventId: string): Promise<string[]> {
  const lines: string[] = [];
  const pages = paginateQuery(
    { client: db },
    {
      TableName: stage.tables.changes,
      KeyConditionExpression: 'eventId = :e',
      ExpressionAttributeValues: { ':e': eventId },
      ConsistentRead: true,
    },
  );
  for await (const page of pages)
    for (const item of page.Items ?? []) if (item.entry) lines.push(`${item.seq}.${item.rev}`);
  return lines;
}

/** A test may scan; the product never does. */
async function eventCount(): Promise<number> {
  let n = 0;
  for await (const page of paginateScan({ client: db }, { TableName: stage.tables.events, ConsistentRead: true }))
    n += page.Items?.length ?? 0;
  return n;
}

/** Sends a frame and returns the error frame it provoked. */
async function refused(c: TestClient, frame: unknown): Promise<ErrorFrame> {
  const from = c.frames.length;
  c.send(frame);
  return c.next<ErrorFrame>((f) => f.type === 'error', { from });
}

const isAck = (clientId: string) => (f: ServerFrame) => f.type === 'ack' && f.clientId === clientId;

// Each as JSON.stringify puts it on the wire: a lone surrogate travels as its \uXXXX escape.
const ODD_TEXTS: [string, string, RegExp][] = [
  ['spaces only', '   \n\t ', /text is empty/],
  ['ideographic spaces only', '\u3000\u3000', /text is empty/],
  ['a zero-width space only', '\u200B', /text is empty/],
  ['a byte order mark only', '\uFEFF', /text is empty/],
  ['a NUL', 'ribbon cut\u0000', /U\+0000 at character 11/],
  ['an escape sequence', '\u001B[2Jcleared', /U\+001B at character 1/],
  ['DEL', 'boats\u007F', /U\+007F at character 6/],
  ['a C1 control', 'next line\u0085', /U\+0085 at character 10/],
  ['a right-to-left override', 'winner: \u202Eeert', /U\+202E at character 9/],
  ['a right-to-left isolate', 'score \u20672-1\u2069', /U\+2067 at character 7/],
  ['a lone high surrogate', 'fish \uD83D', /not well-formed Unicode.*U\+D83D at character 6/],
  ['a lone low surrogate', '\uDC1F fish', /not well-formed Unicode.*U\+DC1F at character 1/],
];

describe('publish and edit', () => {
  let event: CreatedEvent;
  let reporter: TestClient;
  let viewer: TestClient;
  let first: Entry;

  beforeAll(async () => {
    event = await createEvent(stage, '香鱼节开幕式');
    reporter = await client(reporterUrl(stage, event));
    viewer = await client(viewerUrl(stage, event.eventId));
    reporter.send({ action: 'publish', clientId: 'first', text: 'The ceremony begins' });
    await reporter.next(isAck('first'));
    first = (await viewer.next<UpdateFrame>((f) => f.type === 'update' && f.entry.seq === 1)).entry;
  });

  it('refuses each odd text with bad_request, naming the character, and stores, logs and delivers nothing', async () => {
    const viewerFrom = viewer.frames.length;
    for (const [name, text, message] of ODD_TEXTS) {
      const publish = await refused(reporter, { action: 'publish', clientId: `p-${name}`, text });
      expect({ name, code: publish.code, clientId: publish.clientId }).toEqual({
        name,
        code: 'bad_request',
        clientId: `p-${name}`,
      });
      expect(publish.message).toMatch(message);
      const edit = await refused(reporter, { action: 'edit', clientId: `e-${name}`, seq: 1, text });
      expect({ name, code: edit.code, clientId: edit.clientId }).toEqual({
        name,
        code: 'bad_request',
        clientId: `e-${name}`,
      });
      expect(edit.message).toMatch(message);
    }
    for (const clientId of ['   ', '\u200B', 'c\u0000', 'c\n2', 'c\uD800', '\u202Ec']) {
      const error = await refused(reporter, { action: 'publish', clientId, text: 'a fine text' });
      expect(error.code).toBe('bad_request');
      // A clientId the protocol refuses is not echoed back in the error frame.
      expect(error.clientId).toBeUndefined();
    }

    expect(await timeline(event.eventId)).toEqual([first]);
    expect(await changeLog(event.eventId)).toEqual(['1.1']);

    // A refused request left no idempotency record: its clientId publishes afresh. And the viewer's
    // next update is that entry: had a refused change been logged, its update would have come first.
    const reused = `p-${ODD_TEXTS[4]![0]}`;
    reporter.send({ action: 'publish', clientId: reused, text: 'The ribbon is cut' });
    expect(await reporter.next<AckFrame>(isAck(reused))).toMatchObject({ seq: 2, rev: 1 });
    await viewer.next((f) => f.type === 'update' && f.entry.seq === 2, { from: viewerFrom });
    const updates = viewer.frames.slice(viewerFrom).filter((f): f is UpdateFrame => f.type === 'update');
    expect(updates.map((u) => `${u.entry.seq}.${u.entry.rev}:${u.entry.text}`)).toEqual(['2.1:The ribbon is cut']);
  });

  it('stores \\r\\n and a lone \\r as \\n, and keeps Chinese, ZWJ emoji, Arabic and Hebrew as sent', async () => {
    const texts = [
      ['crlf', '第一行\r\n第二行\rthird', '第一行\n第二行\nthird'],
      ['zwj', '龙舟队 👨‍👩‍👧‍👦🏳️‍🌈 加油！\n\tgo', '龙舟队 👨‍👩‍👧‍👦🏳️‍🌈 加油！\n\tgo'],
      ['rtl', 'مرحبا — שלום\u200F', 'مرحبا — שלום\u200F'],
    ] as const;
    const seqs: number[] = [];
    for (const [clientId, text] of texts) {
      reporter.send({ action: 'publish', clientId, text });
      seqs.push((await reporter.next<AckFrame>(isAck(clientId))).seq);
    }
    const stored = await timeline(event.eventId);
    expect(seqs.map((seq) => stored.find((e) => e.seq === seq)?.text)).toEqual(texts.map(([, , expected]) => expected));
  });
});

describe('POST /events', () => {
  const post = (title: string) =>
    fetch(`${stage.httpUrl}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title }),
    });

  it.each([
    ['ideographic spaces only', '\u3000 \u3000', /title is empty/],
    ['a zero-width space only', ' \u200B ', /title is empty/],
    ['a line break', 'Opening\nCeremony', /title must be one line.*U\+000A at character 8/],
    ['\\r\\n', 'Opening\r\nCeremony', /title must be one line.*U\+000D at character 8/],
    ['a NUL', 'Festival\u0000', /U\+0000 at character 9/],
    ['a C1 control', '\u009BFestival', /U\+009B at character 1/],
    ['a left-to-right override', 'Festival \u202D', /U\+202D at character 10/],
    ['a lone surrogate', 'Festival \uD83D', /not well-formed Unicode.*U\+D83D at character 10/],
  ])('refuses a title with %s: 400 bad_request, no event', async (_name, title, message) => {
    const before = await eventCount();
    const res = await post(title);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toMatch(message);
    expect(await eventCount()).toBe(before);
  });

  it('creates an event with a one-line title in any script, trimmed', async () => {
    const res = await post('\u3000香鱼节 — مهرجان 🎉 ');
    expect(res.status).toBe(201);
    expect(((await res.json()) as CreatedEvent).title).toBe('香鱼节 — مهرجان 🎉');
  });
});
