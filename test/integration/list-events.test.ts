// GET /events: the organiser's list, newest first, a page at a time, on the real stage and DynamoDB Local.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTable } from '../../local/create-tables';
import type { Stage } from '../../local/stage';
import { backfillListed, DynamoEventStore } from '../../shared/adapters/dynamo-event-store';
import { eventsTable } from '../../shared/tables';
import type { AckFrame, EventSummary } from '../../shared/domain/protocol';
import { ADMIN_KEY, type CreatedEvent, createEvent, reporterUrl, testStage, viewerUrl } from '../support/stage';
import { connect } from '../support/ws-client';

let stage: Stage;
const created: CreatedEvent[] = [];
/** More than two pages of 10, each title the longest allowed (200 characters, Chinese: 600 bytes of UTF-8). */
const EVENTS = 23;

beforeAll(async () => {
  stage = await testStage();
  for (let i = 0; i < EVENTS; i++) {
    const title = `第${String(i).padStart(2, '0')}场 ${'香鱼节开幕式暨灯笼游行现场直播'.repeat(20)}`.slice(0, 200);
    // One after another: createdAt is the order the list must give back (ties broken by eventId).
    // One with an announced start: the list gives it back (the organiser's console shows it).
    created.push(await createEvent(stage, title, i === 5 ? { startsAt: '2026-07-01T09:30:00.000Z' } : {}));
  }
}, 120_000);
afterAll(async () => {
  await stage?.stop();
});

const list = (query = '', headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` }) =>
  fetch(`${stage.httpUrl}/events${query}`, { headers });

async function page(query: string): Promise<{ items: EventSummary[]; next: string | null }> {
  const res = await list(query);
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('cache-control')).toBe('private, no-store');
  return (await res.json()) as { items: EventSummary[]; next: string | null };
}

describe('GET /events', () => {
  it('pages through every event newest first with an opaque cursor, long Chinese titles intact', async () => {
    const seen: EventSummary[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const got: { items: EventSummary[]; next: string | null } = await page(
        `?limit=10${next ? `&after=${encodeURIComponent(next)}` : ''}`,
      );
      pages++;
      expect(got.items.length).toBeLessThanOrEqual(10);
      seen.push(...got.items);
      next = got.next;
      if (next !== null) expect(next).toMatch(/^[A-Za-z0-9_-]+$/);
    } while (next !== null && pages < 10);
    expect(pages).toBe(3);
    const newestFirst = [...created].sort((a, b) =>
      a.createdAt === b.createdAt ? (a.eventId < b.eventId ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
    );
    expect(seen.map((e) => e.eventId)).toEqual(newestFirst.map((e) => e.eventId));
    for (const e of seen) {
      const mine = created.find((c) => c.eventId === e.eventId)!;
      const startsAt = mine === created[5] ? { startsAt: '2026-07-01T09:30:00.000Z' } : {};
      expect(e).toEqual({
        eventId: mine.eventId,
        title: mine.title,
        createdAt: mine.createdAt,
        ...startsAt,
        lastSeq: 0,
        viewers: 0,
      });
      expect([...e.title].length).toBe(200);
    }
  });

  it('defaults to 20 a page and never says "next" on the last page', async () => {
    const first = await page('');
    expect(first.items).toHaveLength(20);
    expect(first.next).not.toBeNull();
    const rest = await page(`?after=${first.next}&limit=100`);
    expect(rest.items).toHaveLength(EVENTS - 20);
    expect(rest.next).toBeNull();
  });

  it('shows lastSeq and viewers as GET /events/{id} does', async () => {
    const event = created[0]!;
    const reporter = await connect(reporterUrl(stage, event));
    const viewer = await connect(viewerUrl(stage, event.eventId));
    try {
      for (let i = 1; i <= 3; i++) {
        reporter.send({ action: 'publish', clientId: `c${i}`, text: `第${i}条` });
        await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === `c${i}`);
      }
      // The viewer count follows the Connections stream: wait until the event's own read shows it.
      await expect
        .poll(async () => (await fetch(`${stage.httpUrl}/events/${event.eventId}`)).json(), {
          timeout: 60_000,
          interval: 200,
        })
        .toMatchObject({ viewers: 1, lastSeq: 3 });
      const all = await page('?limit=100');
      expect(all.items.find((e) => e.eventId === event.eventId)).toMatchObject({ lastSeq: 3, viewers: 1 });
    } finally {
      await Promise.all([reporter.close(), viewer.close()]);
    }
  }, 90_000);

  it.each([
    ['no key', {}, 401],
    ['a wrong key', { authorization: 'Bearer not-the-key-at-all-000000' }, 401],
    ['a malformed header', { authorization: ADMIN_KEY }, 401],
  ])('refuses %s and lists nothing', async (_name, headers, status) => {
    const res = await list('?limit=100', headers);
    expect(res.status).toBe(status);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    for (const e of created) expect(text).not.toContain(e.eventId);
  });

  it.each([
    ['limit 0', '?limit=0'],
    ['limit 101', '?limit=101'],
    ['a limit that is not a number', '?limit=ten'],
    ['a fractional limit', '?limit=2.5'],
    ['a cursor that is not base64url', '?after=%21%21'],
    [
      'a cursor of other JSON',
      `?after=${Buffer.from(JSON.stringify({ c: 'yesterday', e: 'x' })).toString('base64url')}`,
    ],
    [
      'a cursor with an unknown field',
      `?after=${Buffer.from(JSON.stringify({ c: '2026-01-01T00:00:00.000Z', e: 'abc', x: 1 })).toString('base64url')}`,
    ],
    ['an empty cursor', '?after='],
  ])('refuses %s with 400', async (_name, query) => {
    const res = await list(query);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });
});

describe('events created before the list existed', () => {
  it('are given their place by the backfill, which is safe to repeat', async () => {
    const raw = new DynamoDBClient({
      endpoint: inject('dynamoEndpoint'),
      region: 'us-east-1',
      credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
    });
    const prefix = `old${randomBytes(4).toString('hex')}`;
    try {
      await createTable(raw, prefix, eventsTable);
      const table = `${prefix}-Events`;
      const db = DynamoDBDocumentClient.from(raw);
      // An item as POST /events wrote it before the list: no `listed`.
      const old = {
        eventId: 'oldEvent1',
        title: '旧活动',
        createdAt: '2026-01-01T00:00:00.000Z',
        lastSeq: 4,
        lastChange: 4,
        tokenHash: 'h',
      };
      await db.send(new PutCommand({ TableName: table, Item: old }));
      const store = new DynamoEventStore(db, table);
      expect(await store.listNewest(undefined, 10)).toEqual([]);
      expect(await backfillListed(db, table)).toBe(1);
      expect(await store.listNewest(undefined, 10)).toEqual([
        { eventId: 'oldEvent1', title: '旧活动', createdAt: old.createdAt, lastSeq: 4 },
      ]);
      expect(await backfillListed(db, table)).toBe(0);
    } finally {
      raw.destroy();
    }
  });
});
