// Honest repost counts on the real stage (issue 11): signed viewer ids issued under a per-address
// limit, one count per viewer however often it reconnects, one per address for clients without an
// id, spikes only from many viewers on many networks, and a GET /reposts that writes nothing. The
// gateways trust X-Forwarded-For here (a stage option for tests), so one machine stands for many networks.
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import type { RepostAckFrame, ServerFrame, StatsFrame } from '../../shared/domain/protocol';
import { issueViewerId, VIEWER_ID_MAX_AGE_MS } from '../../shared/domain/viewer-id';
import { type CreatedEvent, createEvent, reporterUrl, stageDb, testStage, viewerUrl } from '../support/stage';
import { repostStore } from '../support/storm';
import { connect, refusedStatus, type TestClient } from '../support/ws-client';

const SECRET = 'test-viewer-secret-0123456789abcdef0123456789';
const PER_MINUTE = 20;

let stage: Stage;
let store: DynamoRepostStore;

beforeAll(async () => {
  stage = await testStage({
    trustForwardedFor: true,
    viewerSecret: SECRET,
    // The detector's warm-up bar (4 × 20/s) asks for 80 reposts in one second: more than 150 sockets
    // on a loaded machine reliably put in one. Without it the bar is 20/s; the source rules are the defaults.
    env: { LIVECAST_VIEWER_IDS_PER_MINUTE: String(PER_MINUTE), LIVECAST_SPIKE_RULES: '{"warmupSeconds":0}' },
  });
  store = repostStore(stage);
}, 60_000);

afterAll(async () => {
  await stage?.stop();
});

async function issue(ip: string, body?: unknown): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${stage.httpUrl}/viewers`, {
    method: 'POST',
    headers: { 'x-forwarded-for': ip, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** `n` viewer ids, each asked for from an address of its own (the per-address allowance is small here). */
async function viewerIds(n: number, tag: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await issue(`100.${tag}.${Math.floor(i / 250)}.${i % 250}`);
      expect(r.status).toBe(201);
      return r.body.viewerId as string;
    }),
  );
}

async function eventWithEntries(title: string, entries: number): Promise<CreatedEvent> {
  const event = await createEvent(stage, title);
  const rep = await connect(reporterUrl(stage, event));
  for (let i = 1; i <= entries; i++) {
    rep.send({ action: 'publish', clientId: `p${i}`, text: `moment ${i}` });
    await rep.next((f) => f.type === 'ack' && f.clientId === `p${i}`);
  }
  await rep.close();
  return event;
}

const isRepostAck = (seq: number) => (f: ServerFrame) => f.type === 'ack' && 'reposted' in f && f.seq === seq;

/** Every client reposts `seq` at once; resolves with the acks. */
async function repostAll(clients: TestClient[], seq: number): Promise<RepostAckFrame[]> {
  const from = clients.map((c) => c.frames.length);
  for (const c of clients) c.send({ action: 'repost', seq });
  return Promise.all(
    clients.map((c, i) => c.next<RepostAckFrame>(isRepostAck(seq), { from: from[i]!, timeoutMs: 60_000 })),
  );
}

const withViewer = (url: string, viewerId: string) => `${url}&viewer=${encodeURIComponent(viewerId)}`;
const totalOf = async (eventId: string, seq: number) => (await store.totals(eventId, seq, seq)).get(seq) ?? 0;
const closeAll = (clients: TestClient[]) => Promise.all(clients.map((c) => c.close()));

describe('viewer ids', () => {
  it('are issued under a per-address limit: 429 with retryAfterMs past it; other addresses and held ids are unaffected', async () => {
    // The allowance is per minute (a fixed window): start well inside one, so the requests share it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const first = await issue('192.0.2.10');
    expect(first.status).toBe(201);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.body).toEqual({
      viewerId: expect.stringMatching(/^[\w-]{22}\.[0-9a-z]+\.[\w-]{43}$/),
      expiresAt: expect.any(String),
    });
    const rest = await Promise.all(Array.from({ length: PER_MINUTE - 1 }, () => issue('192.0.2.10')));
    expect(rest.map((r) => r.status)).toEqual(Array(PER_MINUTE - 1).fill(201));
    expect(new Set([first, ...rest].map((r) => r.body.viewerId)).size).toBe(PER_MINUTE);

    const refused = await issue('192.0.2.10');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect(refused.body.error.retryAfterMs).toBeGreaterThan(0);
    expect(refused.body.error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The same /24 is another address (the limit is per /32): a venue next door is not refused.
    expect((await issue('192.0.2.11')).status).toBe(201);
    // A page showing the id it holds gets it back, though its address is over the limit.
    const renewed = await issue('192.0.2.10', { viewerId: first.body.viewerId });
    expect(renewed).toMatchObject({ status: 200, body: { viewerId: first.body.viewerId } });
    // Bad input: a clear 400, and no id.
    expect((await issue('192.0.2.12', 'not json')).status).toBe(400);
    expect((await issue('192.0.2.12', { viewerId: 5 })).status).toBe(400);
  });

  it('refuses a handshake with a forged, tampered or expired viewer id; accepts a good one', async () => {
    const event = await createEvent(stage, 'forgery');
    const [good] = await viewerIds(1, 1);
    const url = viewerUrl(stage, event.eventId);
    const tampered = `${good!.slice(0, -2)}${good!.endsWith('AA') ? 'BB' : 'AA'}`;
    const otherKey = issueViewerId('another-secret-0123456789abcdef0123456789', Date.now()).token;
    const expired = issueViewerId(SECRET, Date.now() - VIEWER_ID_MAX_AGE_MS - 60_000).token;
    for (const bad of ['abc', tampered, otherKey, expired])
      expect(await refusedStatus(withViewer(url, bad)), bad).toBe(401);
    expect(await refusedStatus(withViewer(url, good!))).toBe(101);
  });
});

describe('repost counts', () => {
  it('count one viewer id once, however often it reconnects and reposts', async () => {
    const event = await eventWithEntries('reconnecting', 1);
    const [id] = await viewerIds(1, 2);
    const acks: RepostAckFrame[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await connect(withViewer(viewerUrl(stage, event.eventId), id!), {
        headers: { 'x-forwarded-for': `198.18.${i}.1` },
      });
      acks.push(...(await repostAll([c], 1)));
      await c.close();
    }
    expect(acks.map((a) => a.counted)).toEqual([true, ...Array(9).fill(false)]);
    await stage.settled();
    expect(await totalOf(event.eventId, 1)).toBe(1);
  });

  it('count 150 sockets on one address once per address without ids, once per viewer with ids, and never call them a spike', async () => {
    const event = await eventWithEntries('one host', 2);
    const watcher = await connect(viewerUrl(stage, event.eventId), {
      headers: { 'x-forwarded-for': '198.51.100.200' },
    });
    const host = { headers: { 'x-forwarded-for': '203.0.113.7' } };

    // v1 clients (no viewer id): every repost is acked, one is counted.
    const v1 = await Promise.all(Array.from({ length: 150 }, () => connect(viewerUrl(stage, event.eventId), host)));
    const v1Acks = await repostAll(v1, 1);
    expect(v1Acks.every((a) => a.reposted)).toBe(true);
    expect(v1Acks.filter((a) => a.counted)).toHaveLength(1);
    await closeAll(v1);

    // 150 viewer ids (fetched from anywhere) on sockets from one host: each counted, no spike.
    const ids = await viewerIds(150, 3);
    const scripted = await Promise.all(ids.map((id) => connect(withViewer(viewerUrl(stage, event.eventId), id), host)));
    const acks = await repostAll(scripted, 2);
    expect(acks.every((a) => a.counted)).toBe(true);
    await closeAll(scripted);

    await stage.settled();
    expect(await totalOf(event.eventId, 1)).toBe(1);
    expect(await totalOf(event.eventId, 2)).toBe(150);
    // The final counts went out after anything the tally found: no spike frame came before them.
    await watcher.next<StatsFrame>((f) => f.type === 'stats' && f.reposts['2'] === 150, { timeoutMs: 30_000 });
    expect(watcher.frames.filter((f) => f.type === 'spike')).toEqual([]);
    expect(await store.spikes(event.eventId)).toEqual([]);
    // Loud enough to have been one by rate alone: a second at or over 20 reposts.
    const seconds = await store.seconds(event.eventId);
    const loudest = Math.max(...seconds.map((s) => Object.values(s.bySeq).reduce((a, b) => a + b, 0)));
    expect(loudest).toBeGreaterThanOrEqual(20);
    expect(seconds.find((s) => Object.values(s.bySeq).reduce((a, b) => a + b, 0) === loudest)).toMatchObject({
      sources: 1,
    });
    await watcher.close();
  }, 180_000);

  it('announce a spike when 150 viewers on 15 networks repost at once', async () => {
    const event = await eventWithEntries('a real crowd', 1);
    const watcher = await connect(viewerUrl(stage, event.eventId));
    const ids = await viewerIds(150, 4);
    const crowd = await Promise.all(
      ids.map((id, i) =>
        connect(withViewer(viewerUrl(stage, event.eventId), id), {
          headers: { 'x-forwarded-for': `172.${16 + (i % 15)}.${i}.9` },
        }),
      ),
    );
    const acks = await repostAll(crowd, 1);
    expect(acks.every((a) => a.counted)).toBe(true);
    const spike = await watcher.next((f) => f.type === 'spike', { timeoutMs: 30_000 });
    expect(spike).toMatchObject({ eventId: event.eventId, topSeq: 1, endedAt: null });
    await stage.settled();
    expect(await totalOf(event.eventId, 1)).toBe(150);
    await closeAll([watcher, ...crowd]);
  }, 180_000);
});

describe('GET /events/{id}/reposts', () => {
  /** The event's items in every table a read could write, and the whole Limits table, in a stable order. */
  async function snapshot(eventId: string): Promise<string> {
    const db = stageDb(stage);
    const out: Record<string, unknown[]> = {};
    for (const table of [stage.tables.repostCounts, stage.tables.changes, stage.tables.events, stage.tables.limits]) {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await db.send(
          new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      const mine = table === stage.tables.limits ? items : items.filter((i) => i.eventId === eventId);
      out[table] = mine.map((i) => JSON.stringify(i, Object.keys(i).sort())).sort();
    }
    return JSON.stringify(out);
  }

  it('writes nothing, even with a spike whose quiet seconds have passed, and may be cached 5 s', async () => {
    const event = await eventWithEntries('read only', 1);
    // A storm 20 s ago, all in one second (rows as the repost route writes them): the tally records
    // its spike open; nothing after it, so only a judge of the silent seconds would end it. The
    // sweep leaves an event with reposts in the last minute alone.
    const second = Math.floor((Date.now() - 20_000) / 1000) * 1000;
    for (let i = 0; i < 300; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.add({ eventId: event.eventId, seq: 1, connectionId: `old-${i + j}`, at: second + i + j }),
        ),
      );
    }
    await stage.settled();
    expect(await store.spikes(event.eventId)).toEqual([expect.objectContaining({ startedAt: second, endedAt: null })]);

    const before = await snapshot(event.eventId);
    const answers = [];
    for (const bucket of [1, 10, 60]) {
      const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/reposts?bucket=${bucket}`);
      answers.push({
        bucket,
        status: res.status,
        cache: res.headers.get('cache-control'),
        body: (await res.json()) as { buckets: unknown[]; total: number; spikes: unknown[] },
      });
    }
    // First: the reads changed nothing (the old read ended the spike: its detector state and row moved).
    expect(await snapshot(event.eventId)).toBe(before);
    for (const { bucket, status, cache, body } of answers) {
      expect(status).toBe(200);
      expect(cache).toBe('public, max-age=5');
      expect(body.total).toBe(300);
      expect(body.buckets).toEqual([{ t: Math.floor(second / (bucket * 1000)) * bucket * 1000, count: 300 }]);
      expect(body.spikes).toHaveLength(1);
    }

    // Errors are never cached.
    for (const path of [`/events/nope/reposts`, `/events/${event.eventId}/reposts?bucket=7`]) {
      const res = await fetch(`${stage.httpUrl}${path}`);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
  }, 60_000);
});
