// Per-connection allowances on the real local stage: a socket flooding sync, ping or repost is served
// its allowance, then refused with rate_limited and retryAfterMs, then closed through the management
// API; refused frames change nothing; the reporter is never refused; an honest viewer is untouched.
// And storage throttling that outlasts the SDK's retries reaches clients as rate_limited, not internal.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { ALLOWANCES } from '../../shared/domain/limits/allowances';
import type { AckFrame, ErrorFrame, RepostAckFrame, ServerFrame } from '../../shared/domain/protocol';
import { createEvent, type CreatedEvent, reporterUrl, testStage, viewerUrl } from '../support/stage';
import { type TestClient, OpenClients } from '../support/ws-client';

/** ErrorFrame as the limits send it (protocol.ts's type predates retryAfterMs). */
type LimitedFrame = ErrorFrame & { retryAfterMs?: number };

const SLOW = 180_000;
const clients = new OpenClients();
const client = clients.connect;

const isLimited = (f: ServerFrame): f is LimitedFrame => f.type === 'error' && f.code === 'rate_limited';

describe('per-connection allowances', () => {
  let stage: Stage;
  let event: CreatedEvent;
  let reporter: TestClient;
  const PUBLISHED = 40;

  beforeAll(async () => {
    stage = await testStage();
    event = await createEvent(stage);
    reporter = await client(reporterUrl(stage, event));
  }, SLOW);
  afterAll(async () => {
    await clients.closeAll();
    await stage?.stop();
  }, SLOW);

  it('never refuses the reporter: 40 updates sent back to back are all acked', { timeout: SLOW }, async () => {
    for (let i = 1; i <= PUBLISHED; i++) reporter.send({ action: 'publish', clientId: `p-${i}`, text: `moment ${i}` });
    const acks = await reporter.collect<AckFrame>((f) => f.type === 'ack', PUBLISHED, { timeoutMs: 120_000 });
    expect(acks.map((a) => a.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: PUBLISHED }, (_, i) => i + 1));
    expect(reporter.frames.filter((f) => f.type === 'error')).toEqual([]);
  });

  it(
    'serves a flooding socket its allowance, then rate_limited with retryAfterMs, then closes it; refused reposts count nothing',
    { timeout: SLOW },
    async () => {
      const window = ALLOWANCES.sync.windowMs; // one minute, as ping's and repost's
      // The allowances count in fixed windows on the clock: start in a fresh one unless most of the
      // current one is left, so the floods below (a few seconds) almost always fit in one window. What
      // follows is checked against the windows actually touched, so it holds either way.
      const left = window - (Date.now() % window);
      if (left < 30_000) await new Promise((r) => setTimeout(r, left + 50));

      const [syncer, pinger, reposter, honest] = await Promise.all(
        [1, 2, 3, 4].map(() => client(viewerUrl(stage, event.eventId))),
      );
      const t0 = Date.now();
      for (let i = 0; i < 50; i++) syncer!.send({ action: 'sync', since: 0 });
      for (let i = 0; i < 100; i++) pinger!.send({ action: 'ping' });
      // Seqs 1..40 then round again: each of the first 40 would count if it were served.
      for (let i = 0; i < 100; i++) reposter!.send({ action: 'repost', seq: (i % PUBLISHED) + 1, clientId: `r-${i}` });
      const closes = await Promise.all([syncer!.closed, pinger!.closed, reposter!.closed]);
      const windows = Math.floor(Date.now() / window) - Math.floor(t0 / window) + 1;

      /** Answers in order: every frame before the close was answered (served or refused), one at a time. */
      const check = (
        c: TestClient,
        served: (f: ServerFrame) => boolean,
        allowance: { limit: number; closeAfter: number },
      ) => {
        const answers = c.frames.filter((f) => served(f) || f.type === 'error');
        const refusals = answers.filter(isLimited);
        const servedCount = answers.filter(served).length;
        // Nothing but service and rate_limited.
        expect(answers.length).toBe(servedCount + refusals.length);
        if (windows === 1) {
          expect(servedCount).toBe(allowance.limit);
          // Served first, then refused, and refused until the close: closeAfter uses in all, the last one's answer lost with the socket.
          expect(answers.slice(0, allowance.limit).every(served)).toBe(true);
          expect(refusals.length).toBe(allowance.closeAfter - allowance.limit);
        } else {
          expect(servedCount).toBeGreaterThanOrEqual(allowance.limit);
          expect(servedCount).toBeLessThanOrEqual(2 * allowance.limit);
        }
        expect(refusals.length).toBeGreaterThan(0);
        for (const r of refusals) {
          expect(r.retryAfterMs).toBeGreaterThan(0);
          expect(r.retryAfterMs).toBeLessThanOrEqual(window);
        }
        return servedCount;
      };

      check(syncer!, (f) => f.type === 'synced', ALLOWANCES.sync);
      check(pinger!, (f) => f.type === 'pong', ALLOWANCES.ping);
      const counted = check(reposter!, (f) => f.type === 'ack', ALLOWANCES.repost);
      // Every reposted seq was new to the connection until seq 40, and the allowance (20) is below that.
      const repostAcks = reposter!.frames.filter((f): f is RepostAckFrame => f.type === 'ack' && 'reposted' in f);
      expect(repostAcks.every((a) => a.counted)).toBe(true);
      // Each refused repost carries its request's clientId.
      expect(reposter!.frames.filter(isLimited).every((f) => f.clientId?.startsWith('r-'))).toBe(true);
      // Closed by the server (DELETE @connections), not by the client.
      for (const c of closes) expect(c.code).toBe(1000);

      // Refused reposts changed nothing: the event's total is exactly the reposts served.
      await stage.settled(60_000);
      const reposts = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/reposts`)).json()) as {
        total: number;
      };
      expect(reposts.total).toBe(counted);

      // Meanwhile an honest viewer on the same event is served as ever, and the reporter still publishes.
      honest!.send({ action: 'ping' });
      await honest!.next((f) => f.type === 'pong');
      honest!.send({ action: 'sync', since: PUBLISHED - 1 });
      await honest!.next((f) => f.type === 'synced');
      reporter.send({ action: 'publish', clientId: 'after-flood', text: 'still here' });
      await reporter.next((f) => f.type === 'ack' && f.clientId === 'after-flood', { timeoutMs: 30_000 });
      await honest!.next((f) => f.type === 'update' && f.entry.seq === PUBLISHED + 1, { timeoutMs: 60_000 });
      expect(honest!.frames.filter((f) => f.type === 'error')).toEqual([]);
    },
  );
});

describe('storage throttling that outlasts the SDK retries', () => {
  let stage: Stage | undefined;
  afterEach(async () => {
    await clients.closeAll();
    await stage?.stop();
    stage = undefined;
  }, SLOW);

  it(
    'answers rate_limited with retryAfterMs (frame) and 429 with Retry-After (HTTP), never internal',
    { timeout: SLOW },
    async () => {
      // Every repost write and every read of the timeline is throttled, whatever the SDK retries.
      stage = await testStage({
        faults: {
          dynamo: {
            share: 1,
            tables: ['Reposts', 'Entries'],
            operations: ['PutItem', 'Query'],
            kinds: ['throughput', 'throttling'],
            seed: 7,
          },
        },
      });
      const event = await createEvent(stage);
      const reporter = await client(reporterUrl(stage, event));
      reporter.send({ action: 'publish', clientId: 'p', text: '开幕式' });
      await reporter.next((f) => f.type === 'ack' && f.clientId === 'p', { timeoutMs: 60_000 });

      const viewer = await client(viewerUrl(stage, event.eventId));
      viewer.send({ action: 'repost', seq: 1, clientId: 'r1' });
      const answer = await viewer.next<LimitedFrame>((f) => f.type === 'ack' || f.type === 'error', {
        timeoutMs: 90_000,
      });
      expect(answer).toMatchObject({ type: 'error', code: 'rate_limited', clientId: 'r1', retryAfterMs: 1000 });

      const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline`);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { error: { code: string; retryAfterMs: number } }).error).toMatchObject({
        code: 'rate_limited',
        retryAfterMs: 1000,
      });

      const injected = stage.faultStats().dynamo!;
      expect((injected.byTable.Reposts?.throughput ?? 0) + (injected.byTable.Reposts?.throttling ?? 0)).toBeGreaterThan(
        0,
      );
    },
  );
});
