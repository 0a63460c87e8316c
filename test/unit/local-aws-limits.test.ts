// AWS-limit imitation in the local gateway: the token bucket, latency, injected 410s, virtual connections, env parsing.
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type AwsLimits,
  Limiter,
  limitsFromEnv,
  mulberry32,
  TokenBucket,
  validateLimits,
} from '../../local/aws-limits';
import { type Invoke, startWsGateway, type WsGateway, type WsGatewayOptions } from '../../local/ws-gateway';

// ---- fixtures --------------------------------------------------------------------------------

const gateways: WsGateway[] = [];
const sdks: ApiGatewayManagementApiClient[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of sdks.splice(0)) s.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(opts: Partial<WsGatewayOptions> = {}): Promise<WsGateway> {
  const g = await startWsGateway({ port: 0, log: () => {}, routes: new Map(), ...opts });
  gateways.push(g);
  return g;
}

/** The real client, one attempt: the SDK would otherwise retry 429s and hide them. */
function sdk(g: WsGateway): ApiGatewayManagementApiClient {
  const client = new ApiGatewayManagementApiClient({
    endpoint: g.managementEndpoint,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
  });
  sdks.push(client);
  return client;
}

const post = (api: ApiGatewayManagementApiClient, id: string, data: string | Uint8Array = 'x') =>
  api.send(new PostToConnectionCommand({ ConnectionId: id, Data: data }));

/** 'ok', or the error's name, never throwing. */
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof Error ? e.name : String(e)),
  );

const vids = (n: number, prefix = 'v-') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);

/** A stepping clock for the pure tests. */
function manualClock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

// ---- pure ------------------------------------------------------------------------------------

describe('TokenBucket', () => {
  it('starts full, spends its burst, then refuses', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 5, clock.now);

    const taken = Array.from({ length: 8 }, () => bucket.take());

    expect(taken).toEqual([true, true, true, true, true, false, false, false]);
  });

  it('refills continuously at rate, capped at burst', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 5, clock.now);
    for (let i = 0; i < 5; i += 1) bucket.take();

    clock.advance(99);
    expect(bucket.take()).toBe(false); // 0.99 of a token
    clock.advance(1);
    expect(bucket.take()).toBe(true); // 1.0 now
    expect(bucket.take()).toBe(false);

    clock.advance(60_000);
    expect(bucket.available()).toBe(5);
  });

  it('admits exactly burst + rate × elapsed under sustained overload', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(1_000, 50, clock.now);
    let admitted = 0;
    // 10 calls per ms (10× the rate) for 2 s, in sub-ms steps so refill is fractional throughout.
    for (let step = 0; step < 20_000; step += 1) {
      clock.advance(0.1);
      if (bucket.take()) admitted += 1;
    }

    // 2 s × 1,000/s + 50; float rounding may cost the last token.
    expect(admitted).toBeGreaterThanOrEqual(2_049);
    expect(admitted).toBeLessThanOrEqual(2_050);
  });

  it('does not drain when the clock steps back', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 2, clock.now);
    clock.advance(-500);

    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });
});

describe('Limiter', () => {
  it('throttles before it draws a 410: a throttled post never consumes a draw', () => {
    const clock = manualClock();
    const limiter = new Limiter({ rate: 0, burst: 1, goneRate: 1, seed: 1 }, clock.now);

    expect(limiter.arrive(true)).toBe('gone');
    expect(limiter.arrive(true)).toBe('throttled');
  });

  it('draws 410s for posts only', () => {
    const limiter = new Limiter({ goneRate: 1, seed: 1 });

    expect([limiter.arrive(false), limiter.arrive(true)]).toEqual(['pass', 'gone']);
  });

  it('draws latency in [latency, latency + jitter], the same sequence for the same seed', () => {
    const a = new Limiter({ latencyMs: 20, latencyJitterMs: 10, seed: 7 });
    const b = new Limiter({ latencyMs: 20, latencyJitterMs: 10, seed: 7 });
    const c = new Limiter({ latencyMs: 20, latencyJitterMs: 10, seed: 8 });

    const da = Array.from({ length: 200 }, () => a.delayMs());
    const db = Array.from({ length: 200 }, () => b.delayMs());
    const dc = Array.from({ length: 200 }, () => c.delayMs());

    expect(da).toEqual(db);
    expect(dc).not.toEqual(da);
    expect(Math.min(...da)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...da)).toBeLessThan(30);
  });

  it('keeps the 410 sequence independent of jitter and GETs', () => {
    const plain = new Limiter({ goneRate: 0.5, seed: 3 });
    const busy = new Limiter({ goneRate: 0.5, seed: 3, latencyJitterMs: 5 });

    const fromPlain = Array.from({ length: 100 }, () => plain.arrive(true));
    const fromBusy = Array.from({ length: 100 }, () => {
      busy.delayMs();
      busy.arrive(false);
      return busy.arrive(true);
    });

    expect(fromBusy).toEqual(fromPlain);
  });

  it('picks a seed when none is given and reports it', () => {
    const limiter = new Limiter({ goneRate: 0.1 });

    expect(Number.isInteger(limiter.seed)).toBe(true);
  });

  it('mulberry32 draws in [0, 1)', () => {
    const draw = mulberry32(123);
    const draws = Array.from({ length: 10_000 }, draw);

    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((s, d) => s + d, 0) / draws.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('limitsFromEnv', () => {
  it('is undefined when no variable is set, or all are empty', () => {
    expect(limitsFromEnv({})).toBeUndefined();
    expect(limitsFromEnv({ LIVECAST_SIM_RATE: '', LIVECAST_SIM_SEED: '  ' })).toBeUndefined();
  });

  it('reads every variable', () => {
    const limits = limitsFromEnv({
      LIVECAST_SIM_LATENCY_MS: '25',
      LIVECAST_SIM_LATENCY_JITTER_MS: '7.5',
      LIVECAST_SIM_RATE: '10000',
      LIVECAST_SIM_BURST: '5000',
      LIVECAST_SIM_GONE_RATE: '0.01',
      LIVECAST_SIM_SEED: '42',
      UNRELATED: 'x',
    });

    expect(limits).toEqual({
      latencyMs: 25,
      latencyJitterMs: 7.5,
      rate: 10_000,
      burst: 5_000,
      goneRate: 0.01,
      seed: 42,
    });
  });

  it('reads a partial set', () => {
    expect(limitsFromEnv({ LIVECAST_SIM_RATE: '1e4' })).toEqual({ rate: 10_000 });
  });

  it.each([
    [{ LIVECAST_SIM_RATE: 'fast' }, /LIVECAST_SIM_RATE must be a number, got "fast"/],
    [{ LIVECAST_SIM_LATENCY_MS: '20ms' }, /LIVECAST_SIM_LATENCY_MS must be a number/],
    [{ LIVECAST_SIM_LATENCY_MS: '0x10' }, /LIVECAST_SIM_LATENCY_MS must be a number/],
    [{ LIVECAST_SIM_LATENCY_MS: '-1' }, /LIVECAST_SIM_LATENCY_MS must be a number of milliseconds >= 0, got -1/],
    [{ LIVECAST_SIM_LATENCY_JITTER_MS: '-3' }, /LIVECAST_SIM_LATENCY_JITTER_MS must be/],
    [{ LIVECAST_SIM_RATE: '-5' }, /LIVECAST_SIM_RATE must be a number of calls per second >= 0/],
    [{ LIVECAST_SIM_RATE: '10', LIVECAST_SIM_BURST: '0.5' }, /LIVECAST_SIM_BURST must be a number of calls >= 1/],
    [{ LIVECAST_SIM_BURST: '100' }, /LIVECAST_SIM_BURST needs LIVECAST_SIM_RATE/],
    [{ LIVECAST_SIM_GONE_RATE: '1.5' }, /LIVECAST_SIM_GONE_RATE must be a share between 0 and 1, got 1.5/],
    [{ LIVECAST_SIM_GONE_RATE: '30%' }, /LIVECAST_SIM_GONE_RATE must be a number/],
    [{ LIVECAST_SIM_SEED: '1.5' }, /LIVECAST_SIM_SEED must be an integer/],
    [{ LIVECAST_SIM_RATE: '1e999' }, /LIVECAST_SIM_RATE must be a number of calls per second/],
  ])('refuses %j', (env, message) => {
    expect(() => limitsFromEnv(env)).toThrow(message);
  });

  it('validates options given in code with the field names', async () => {
    expect(() => validateLimits({ goneRate: 2 })).toThrow(/goneRate must be a share/);
    await expect(startWsGateway({ port: 0, routes: new Map(), log: () => {}, limits: { rate: -1 } })).rejects.toThrow(
      /rate must be/,
    );
  });
});

// ---- the gateway with the real SDK client ----------------------------------------------------

describe('token bucket on @connections', () => {
  it('answers 429 LimitExceededException past the burst when nothing refills', async () => {
    const g = await gateway({ limits: { rate: 0, burst: 3 } });
    g.addVirtualConnections(vids(1));
    const api = sdk(g);

    const results = await Promise.all(Array.from({ length: 10 }, () => post(api, 'v-000000').catch((e: unknown) => e)));

    const throttled = results.filter((r) => r instanceof Error);
    expect(results.length - throttled.length).toBe(3);
    expect(throttled).toHaveLength(7);
    expect(throttled[0]).toMatchObject({ name: 'LimitExceededException', $metadata: { httpStatusCode: 429 } });
    expect(g.stats()).toMatchObject({ throttled: 7, postsOut: 3, virtualPostsOut: 3 });
  });

  it('shares one bucket across POST, GET and DELETE', async () => {
    const g = await gateway({ limits: { rate: 0, burst: 2 } });
    g.addVirtualConnections(vids(2));
    const api = sdk(g);

    const get = await outcome(api.send(new GetConnectionCommand({ ConnectionId: 'v-000000' })));
    const del = await outcome(api.send(new DeleteConnectionCommand({ ConnectionId: 'v-000001' })));
    const late = await outcome(post(api, 'v-000000'));

    expect([get, del, late]).toEqual(['ok', 'ok', 'LimitExceededException']);
  });

  it('admits no more than burst + rate × elapsed over a sustained overload', async () => {
    const rate = 200;
    const burst = 20;
    // The bucket is created inside startWsGateway, so it cannot have earned tokens before t0.
    const t0 = performance.now();
    const g = await gateway({ limits: { rate, burst } });
    g.addVirtualConnections(vids(1));
    const api = sdk(g);

    const counts = new Map<string, number>();
    // Waves of 40 concurrent posts for ~300 ms; how many waves fit does not matter for the bound.
    while (performance.now() - t0 < 300) {
      const wave = await Promise.all(Array.from({ length: 40 }, () => outcome(post(api, 'v-000000'))));
      for (const r of wave) counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    const elapsedS = (performance.now() - t0) / 1000;

    const ok = counts.get('ok') ?? 0;
    expect([...counts.keys()].every((k) => k === 'ok' || k === 'LimitExceededException')).toBe(true);
    expect(ok).toBeGreaterThanOrEqual(burst); // the first wave alone finds a full bucket
    expect(ok).toBeLessThanOrEqual(burst + rate * elapsedS + 1e-6);
    expect(g.stats().throttled).toBe(counts.get('LimitExceededException') ?? 0);
  });
});

describe('answers told per call', () => {
  it('tells onManagementAnswer of every call with its connection and status, 429s and 410s included', async () => {
    const answers: string[] = [];
    const g = await gateway({
      limits: { rate: 0, burst: 3 },
      onManagementAnswer: (call, status) => answers.push(`${call.op} ${call.connectionId} ${status}`),
    });
    g.addVirtualConnections(vids(1));
    const api = sdk(g);

    await outcome(post(api, 'v-000000'));
    await outcome(api.send(new GetConnectionCommand({ ConnectionId: 'v-000000' })));
    await outcome(post(api, 'v-unknown'));
    await outcome(post(api, 'v-000000'));

    expect(answers).toEqual(['post v-000000 200', 'get v-000000 200', 'post v-unknown 410', 'post v-000000 429']);
  });
});

describe('latency on @connections', () => {
  it('holds every call at least latencyMs, 429s included', async () => {
    const g = await gateway({ limits: { latencyMs: 60, rate: 0, burst: 1 } });
    g.addVirtualConnections(vids(1));
    const api = sdk(g);

    const timed = async (p: () => Promise<unknown>) => {
      const start = performance.now();
      const result = await outcome(p());
      return { result, ms: performance.now() - start };
    };
    const first = await timed(() => post(api, 'v-000000'));
    const second = await timed(() => post(api, 'v-000000'));

    expect(first.result).toBe('ok');
    expect(second.result).toBe('LimitExceededException');
    // Lower bounds only: the gateway runs in this process, so its clock is ours.
    expect(first.ms).toBeGreaterThanOrEqual(60);
    expect(second.ms).toBeGreaterThanOrEqual(60);
    expect(g.stats()).toMatchObject({ delayedCalls: 2, delayTotalMs: 120, delayMaxMs: 60 });
  });

  it('delivers a virtual post no earlier than the latency after the call started', async () => {
    const g = await gateway({ limits: { latencyMs: 40, latencyJitterMs: 20, seed: 5 } });
    const received: number[] = [];
    g.addVirtualConnections(vids(1), { onMessage: (_id, _data, at) => received.push(at) });
    const api = sdk(g);

    const start = performance.now();
    await post(api, 'v-000000');

    expect(received[0]).toBeGreaterThanOrEqual(start + 40);
    const { delayMaxMs, delayTotalMs } = g.stats();
    expect(delayTotalMs).toBeGreaterThanOrEqual(40);
    expect(delayMaxMs).toBeLessThan(60);
  });
});

describe('injected 410s', () => {
  it('goneRate 1 answers every post 410 and removes the virtual connection', async () => {
    const closed: string[] = [];
    const g = await gateway({ limits: { goneRate: 1, seed: 1 } });
    g.addVirtualConnections(vids(3), { onClose: (id, cause) => closed.push(`${id} ${cause}`) });
    const api = sdk(g);

    const results = await Promise.all(vids(3).map((id) => post(api, id).catch((e: unknown) => e)));

    for (const r of results) expect(r).toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
    expect(g.virtualCount()).toBe(0);
    expect(closed.sort()).toEqual(['v-000000 gone', 'v-000001 gone', 'v-000002 gone']);
    expect(g.stats()).toMatchObject({ injectedGone: 3, postsGone: 3, postsOut: 0 });
    // GETs draw no 410: this one is gone for real.
    expect(await outcome(api.send(new GetConnectionCommand({ ConnectionId: 'v-000000' })))).toBe('GoneException');
  });

  it('closes a real socket with 1001 and runs $disconnect', async () => {
    let connectionId = '';
    const disconnects: any[] = [];
    const onConnect: Invoke = async (event) => {
      connectionId = event.requestContext.connectionId;
      return { statusCode: 200 };
    };
    const onDisconnect: Invoke = async (event) => {
      disconnects.push(event);
      return { statusCode: 200 };
    };
    const g = await gateway({
      limits: { goneRate: 1 },
      routes: new Map([
        ['$connect', { invoke: onConnect, returnResponse: false }],
        ['$disconnect', { invoke: onDisconnect, returnResponse: false }],
      ]),
    });
    const ws = new WebSocket(g.url);
    sockets.push(ws);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const api = sdk(g);

    const result = await outcome(post(api, connectionId));

    expect(result).toBe('GoneException');
    expect(await closed).toBe(1001);
    await expect.poll(() => disconnects.length).toBe(1);
    expect(disconnects[0].requestContext.connectionId).toBe(connectionId);
    expect(g.connectionCount()).toBe(0);
  });

  it('goneRate 0.3 drops about 30% of 1,000 posts, the same ones for the same seed', async () => {
    const run = async (seed: number) => {
      const g = await gateway({ limits: { goneRate: 0.3, seed } });
      const ids = vids(1_000);
      g.addVirtualConnections(ids);
      const api = sdk(g);
      const goneIds: string[] = [];
      // One at a time: the k-th post gets the k-th draw, so the ids are reproducible too.
      for (const id of ids) if ((await outcome(post(api, id))) === 'GoneException') goneIds.push(id);
      expect(g.virtualCount()).toBe(1_000 - goneIds.length);
      expect(g.stats().injectedGone).toBe(goneIds.length);
      return goneIds;
    };

    const a = await run(42);
    const b = await run(42);
    const c = await run(43);

    expect(a.length).toBeGreaterThan(200);
    expect(a.length).toBeLessThan(400);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe('virtual connections', () => {
  it('hand the exact posted bytes to onMessage', async () => {
    const g = await gateway();
    const got: { id: string; data: Buffer; at: number }[] = [];
    g.addVirtualConnections(['v-a', 'v-b'], {
      onMessage: (id, data, at) => got.push({ id, data: Buffer.from(data), at }),
    });
    const api = sdk(g);
    const bytes = Buffer.concat([
      Buffer.from(JSON.stringify({ type: 'update', text: 'Grüße 🎉' })),
      Buffer.from([0, 255, 10, 13]),
    ]);

    const start = performance.now();
    const out = await post(api, 'v-b', bytes);
    await post(api, 'v-a', '');

    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(got.map((m) => m.id)).toEqual(['v-b', 'v-a']);
    expect(got[0]?.data.equals(bytes)).toBe(true);
    expect(got[1]?.data.length).toBe(0);
    expect(got[0]?.at).toBeGreaterThanOrEqual(start);
    expect(got[0]?.at).toBeLessThanOrEqual(performance.now());
    expect(g.stats()).toMatchObject({ postsOut: 2, virtualPostsOut: 2, virtualConnectionsOpen: 2, connectionsOpen: 0 });
  });

  it('answer GET plausibly, and DELETE removes them (410 after)', async () => {
    const closed: string[] = [];
    const g = await gateway();
    g.addVirtualConnections(['v-1'], { onClose: (id, cause) => closed.push(`${id} ${cause}`) });
    const api = sdk(g);

    const info = await api.send(new GetConnectionCommand({ ConnectionId: 'v-1' }));
    const deleted = await api.send(new DeleteConnectionCommand({ ConnectionId: 'v-1' }));
    const after = await outcome(post(api, 'v-1'));

    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(Math.abs(info.ConnectedAt!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(info.LastActiveAt).toBeInstanceOf(Date);
    expect(info.Identity?.SourceIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    expect(after).toBe('GoneException');
    expect(closed).toEqual(['v-1 deleted']);
    expect(g.virtualCount()).toBe(0);
  });

  it('a post over 128 KiB answers 413 and ends the virtual connection', async () => {
    const g = await gateway();
    g.addVirtualConnections(['v-big']);
    const api = sdk(g);

    const error = await post(api, 'v-big', Buffer.alloc(128 * 1024 + 1, 0x61)).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'PayloadTooLargeException', $metadata: { httpStatusCode: 413 } });
    expect(g.virtualCount()).toBe(0);
  });

  it('refuse ids that could collide, all or nothing', async () => {
    const g = await gateway();
    g.addVirtualConnections(['v-1']);

    expect(() => g.addVirtualConnections(['v-2', 'AAAAAAAAAAAAAAA='])).toThrow(/shape of a gateway-issued id/);
    expect(() => g.addVirtualConnections(['v-3', 'v-1'])).toThrow(/"v-1" is already in use/);
    expect(() => g.addVirtualConnections(['v-4', 'v-4'])).toThrow(/already in use/);
    expect(() => g.addVirtualConnections([''])).toThrow(/is empty/);
    expect(g.virtualCount()).toBe(1);
  });

  it('removeVirtualConnections drops them quietly', async () => {
    const closed: string[] = [];
    const g = await gateway();
    g.addVirtualConnections(vids(10), { onClose: (id) => closed.push(id) });

    g.removeVirtualConnections([...vids(5), 'unknown']);

    expect(g.virtualCount()).toBe(5);
    expect(closed).toEqual([]);
    expect(await outcome(post(sdk(g), 'v-000000'))).toBe('GoneException');
  });

  it('100,000 of them cost a few MB of heap', async () => {
    const g = await gateway();
    const ids = vids(100_000);
    const before = process.memoryUsage().heapUsed;

    g.addVirtualConnections(ids, { onMessage: () => {} });

    // Without a forced GC the delta can only overstate; a Map entry per id is ~4 MB here.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(40 * 1024 * 1024);
    expect(g.virtualCount()).toBe(100_000);
    expect(g.stats().virtualConnectionsOpen).toBe(100_000);
    expect(g.connectionCount()).toBe(0);
  });

  it('are refused once the gateway is closed', async () => {
    const g = await startWsGateway({ port: 0, routes: new Map(), log: () => {} });
    g.addVirtualConnections(['v-1']);
    await g.close();

    expect(g.virtualCount()).toBe(0);
    expect(() => g.addVirtualConnections(['v-2'])).toThrow(/closed/);
  });
});

describe('without limits', () => {
  it('counts nothing extra and delays nothing', async () => {
    const g = await gateway();
    g.addVirtualConnections(vids(1));

    await post(sdk(g), 'v-000000');

    expect(g.stats()).toMatchObject({ throttled: 0, injectedGone: 0, delayedCalls: 0, delayTotalMs: 0, postsOut: 1 });
  });

  it('logs the active limits and the seed at start-up', async () => {
    const lines: string[] = [];
    const limits: AwsLimits = { latencyMs: 20, rate: 10_000, burst: 5_000, goneRate: 0.01, seed: 9 };
    await gateway({ limits, log: (line) => lines.push(line) });

    expect(lines.join('\n')).toMatch(/latency 20 ms, 10000 calls\/s, burst 5000, 1% of posts 410 \(seed 9\)/);
  });
});
