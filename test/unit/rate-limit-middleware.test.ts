// The per-connection allowance middleware and the error middlewares' rate_limited, on fakes: what a
// client is answered, that a refused frame never reaches its handler, and when a connection is closed.
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { httpErrors, wsErrors } from '../../functions/lib/middleware';
import { rateLimit } from '../../functions/lib/rate-limit';
import type { HttpEvent, HttpResult } from '../../functions/lib/http';
import type { WsEvent, WsResult } from '../../functions/lib/ws';
import { ALLOWANCES, allowanceFor } from '../../shared/domain/limits/allowances';
import { RateLimiter } from '../../shared/domain/limits/rate-limiter';
import type { RateLimitStore } from '../../shared/domain/ports';
import { FakeGateway, silentLog } from '../support/fakes';

class MemoryStore implements RateLimitStore {
  readonly counts = new Map<string, number>();
  failing = false;
  async hit(key: string): Promise<number> {
    if (this.failing) throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }
}

const context = {} as Context;

function wsEvent(
  routeKey: string,
  connectionId: string,
  body: unknown,
  role: 'viewer' | 'reporter' = 'viewer',
): WsEvent {
  return {
    requestContext: { routeKey, connectionId, eventType: 'MESSAGE', authorizer: { eventId: 'ev1', role } },
    body: JSON.stringify(body),
  };
}

/** A WebSocket route wrapped as the ws-*.ts files wrap theirs; counts how often its handler ran. */
function route(options: { now?: () => number; store?: MemoryStore; fail?: Error } = {}) {
  const store = options.store ?? new MemoryStore();
  const limiter = new RateLimiter(store, { now: options.now ?? (() => 120_000) });
  const gateway = new FakeGateway();
  const ran: string[] = [];
  const handler = middy(async (event: WsEvent): Promise<WsResult> => {
    ran.push(event.requestContext.connectionId);
    if (options.fail) throw options.fail;
    return { statusCode: 200, body: JSON.stringify({ type: 'pong' }) };
  })
    .use(wsErrors({ logger: () => silentLog }))
    .use(rateLimit({ limiter: () => limiter, closer: () => gateway, logger: () => silentLog }));
  const send = async (event: WsEvent) =>
    JSON.parse((await handler(event, context)).body ?? '{}') as Record<string, unknown>;
  return { handler, send, ran, gateway, store };
}

describe('rateLimit (WebSocket routes)', () => {
  it('serves a connection its allowance, then answers rate_limited with retryAfterMs and never runs the handler', async () => {
    // 20 s into a one-minute window: the next use is allowed 40 s later.
    const { send, ran } = route({ now: () => 120_000 + 20_000 });
    const limit = ALLOWANCES.ping.limit;
    const answers = [];
    for (let i = 0; i < limit + 3; i++) answers.push(await send(wsEvent('ping', 'c1', { action: 'ping' })));
    expect(answers.slice(0, limit).every((a) => a.type === 'pong')).toBe(true);
    expect(answers.slice(limit)).toEqual(
      Array.from({ length: 3 }, () =>
        expect.objectContaining({ type: 'error', code: 'rate_limited', retryAfterMs: 40_000 }),
      ),
    );
    expect(ran).toHaveLength(limit);
  });

  it('names the request it refused by clientId', async () => {
    const { send } = route();
    for (let i = 0; i < ALLOWANCES.repost.limit; i++) await send(wsEvent('repost', 'c1', { action: 'repost', seq: 1 }));
    expect(await send(wsEvent('repost', 'c1', { action: 'repost', seq: 2, clientId: 'r-42' }))).toMatchObject({
      type: 'error',
      code: 'rate_limited',
      clientId: 'r-42',
    });
  });

  it('counts per connection and per route: a flooder spends only its own allowance', async () => {
    const { send } = route();
    for (let i = 0; i < 50; i++) await send(wsEvent('sync', 'flooder', { action: 'sync', since: 0 }));
    expect(await send(wsEvent('sync', 'honest', { action: 'sync', since: 0 }))).toEqual({ type: 'pong' });
    expect(await send(wsEvent('ping', 'flooder', { action: 'ping' }))).toEqual({ type: 'pong' });
  });

  it('closes a connection through the management API once it keeps going past closeAfter', async () => {
    const { send, gateway, ran } = route();
    const { limit, closeAfter } = ALLOWANCES.sync;
    for (let i = 0; i < closeAfter; i++) await send(wsEvent('sync', 'c1', { action: 'sync', since: 0 }));
    expect(gateway.closed).toEqual([]);
    const last = await send(wsEvent('sync', 'c1', { action: 'sync', since: 0 }));
    expect(gateway.closed).toEqual(['c1']);
    expect(last).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('closed') });
    expect(ran).toHaveLength(limit);
  });

  it('lets the reporter publish far beyond a viewer, and never closes it', async () => {
    const { send, gateway, ran } = route();
    for (let i = 0; i < ALLOWANCES.reporterWrite.limit; i++) {
      expect(
        await send(wsEvent('publish', 'rep', { action: 'publish', clientId: `p${i}`, text: 'x' }, 'reporter')),
      ).toEqual({ type: 'pong' });
    }
    for (let i = 0; i < 500; i++)
      await send(wsEvent('publish', 'rep', { action: 'publish', clientId: `q${i}`, text: 'x' }, 'reporter'));
    expect(gateway.closed).toEqual([]);
    expect(ran).toHaveLength(ALLOWANCES.reporterWrite.limit);
    // A viewer sending publish frames gets the small allowance of a frame the pages never send.
    expect(allowanceFor('publish', 'viewer')).toBe(ALLOWANCES.viewerWrite);
    expect(allowanceFor('publish', 'reporter').closeAfter).toBeUndefined();
  });

  it('lets a frame through when its use cannot be counted (the handler answers for itself)', async () => {
    const store = new MemoryStore();
    store.failing = true;
    const { send, ran } = route({ store });
    expect(await send(wsEvent('ping', 'c1', { action: 'ping' }))).toEqual({ type: 'pong' });
    expect(ran).toEqual(['c1']);
  });
});

describe('error middlewares under storage throttling', () => {
  const throttled = (name: string) =>
    Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
      name,
      $metadata: { httpStatusCode: 400 },
    });

  it.each(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded'])(
    'answers a WebSocket frame rate_limited with retryAfterMs after %s, not internal',
    async (name) => {
      const { send } = route({ fail: throttled(name) });
      expect(await send(wsEvent('repost', 'c1', { action: 'repost', seq: 1, clientId: 'r1' }))).toEqual({
        type: 'error',
        code: 'rate_limited',
        message: expect.any(String),
        retryAfterMs: 1000,
        clientId: 'r1',
      });
    },
  );

  it('treats a transaction cancelled for throttling as throttling, and one cancelled otherwise as a fault', async () => {
    const cancelled = (code: string) =>
      Object.assign(new Error('Transaction cancelled'), {
        name: 'TransactionCanceledException',
        CancellationReasons: [{ Code: 'None' }, { Code: code }],
      });
    expect(await route({ fail: cancelled('ThrottlingError') }).send(wsEvent('ping', 'c1', {}))).toMatchObject({
      code: 'rate_limited',
      retryAfterMs: 1000,
    });
    expect(await route({ fail: cancelled('ValidationError') }).send(wsEvent('ping', 'c1', {}))).toMatchObject({
      code: 'internal',
    });
  });

  it('answers HTTP 429 with Retry-After in seconds and retryAfterMs in the body', async () => {
    const handler = middy(async (): Promise<HttpResult> => {
      throw throttled('ThrottlingException');
    }).use(httpErrors({ logger: () => silentLog }));
    const res = (await handler({ routeKey: 'GET /events/{eventId}' } as HttpEvent, context)) as HttpResult & {
      headers: Record<string, string>;
    };
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body ?? '')).toEqual({
      error: { code: 'rate_limited', message: expect.any(String), retryAfterMs: 1000 },
    });
  });

  it('still hides every other fault behind internal 500, with no Retry-After', async () => {
    const handler = middy(async (): Promise<HttpResult> => {
      throw new TypeError('x is undefined');
    }).use(httpErrors({ logger: () => silentLog }));
    const res = (await handler({ routeKey: 'GET /events/{eventId}' } as HttpEvent, context)) as HttpResult & {
      headers: Record<string, string>;
    };
    expect(res.statusCode).toBe(500);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(res.body ?? '').error.code).toBe('internal');
  });
});
