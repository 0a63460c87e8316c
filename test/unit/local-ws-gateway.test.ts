// The local WebSocket gateway against real ws clients and the real management API client:
// events shaped like AWS's, handshake refusals, routing, route responses, @connections.
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type Invoke,
  startWsGateway,
  type WsGateway,
  type WsGatewayOptions,
  type WsRoute,
} from '../../local/ws-gateway';

// ---- fixtures --------------------------------------------------------------------------------

/** A fake handler that records its events and lets a test await the next one. */
function recorder(respond: (event: any) => unknown = () => ({ statusCode: 200 })) {
  const events: any[] = [];
  const waiters: ((event: any) => void)[] = [];
  let seen = 0;
  const invoke: Invoke = async (event) => {
    events.push(event);
    waiters.shift()?.(event);
    return respond(event);
  };
  return {
    events,
    invoke,
    /** Resolves with the next event not yet taken by a previous call. */
    next(): Promise<any> {
      const index = seen++;
      if (index < events.length) return Promise.resolve(events[index]);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const route = (invoke: Invoke, returnResponse = true): WsRoute => ({ invoke, returnResponse });

const gateways: WsGateway[] = [];
const clients: WebSocket[] = [];
const sdks: ApiGatewayManagementApiClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const s of sdks.splice(0)) s.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(opts: Partial<WsGatewayOptions> & Pick<WsGatewayOptions, 'routes'>): Promise<WsGateway> {
  const g = await startWsGateway({ port: 0, log: () => {}, ...opts });
  gateways.push(g);
  return g;
}

function sdk(endpoint: string, maxAttempts = 3): ApiGatewayManagementApiClient {
  const client = new ApiGatewayManagementApiClient({
    endpoint,
    maxAttempts,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
  });
  sdks.push(client);
  return client;
}

interface Client {
  readonly ws: WebSocket;
  nextMessage(): Promise<string>;
  closed: Promise<{ code: number; reason: string }>;
}

function wrap(ws: WebSocket): Client {
  const queue: string[] = [];
  const waiters: ((m: string) => void)[] = [];
  ws.on('message', (data, isBinary) => {
    // AWS sends text frames only; a binary one shows up marked so a test notices.
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const text = (isBinary ? '[binary] ' : '') + bytes.toString('utf8');
    const waiter = waiters.shift();
    if (waiter) waiter(text);
    else queue.push(text);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return {
    ws,
    closed,
    nextMessage: () => {
      const queued = queue.shift();
      return queued !== undefined ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

function connect(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<Client> {
  const ws = new WebSocket(url, opts.protocols ?? [], {
    headers: { 'user-agent': 'livecast-test/1.0', ...opts.headers },
  });
  clients.push(ws);
  const client = wrap(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/** The handshake's HTTP status: 101 when it upgraded. */
function handshakeStatus(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  clients.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ status: 101, body: '' }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

const allowPolicy = (principalId: string, context: Record<string, unknown>, effect = 'Allow') => ({
  principalId,
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: 'arn:aws:execute-api:*:*:*/*/$connect' }],
  },
  context,
});

const idShape = /^[A-Za-z0-9+/]{15}=$/;
const requestTimeShape = /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/;

// ---- handshake -------------------------------------------------------------------------------

describe('handshake', () => {
  it('invokes $connect with the event AWS builds, then accepts the socket', async () => {
    const onConnect = recorder();
    const g = await gateway({
      routes: new Map([['$connect', route(onConnect.invoke, false)]]),
    });

    await connect(`${g.url}/?eventId=E1&token=t%2B1`);
    const event = await onConnect.next();

    expect(event.queryStringParameters).toEqual({ eventId: 'E1', token: 't+1' });
    expect(event.multiValueQueryStringParameters).toEqual({ eventId: ['E1'], token: ['t+1'] });
    expect(event.headers['user-agent']).toBe('livecast-test/1.0');
    expect(event.multiValueHeaders['Sec-WebSocket-Version']).toEqual(['13']);
    expect(event.headers['X-Forwarded-For']).toBe('127.0.0.1');
    expect(event.isBase64Encoded).toBe(false);
    const rc = event.requestContext;
    expect(rc).toMatchObject({
      routeKey: '$connect',
      eventType: 'CONNECT',
      messageDirection: 'IN',
      stage: 'local',
      apiId: 'local',
      domainName: `127.0.0.1:${g.port}`,
      identity: { sourceIp: '127.0.0.1', userAgent: 'livecast-test/1.0' },
    });
    expect(rc.connectionId).toMatch(idShape);
    expect(rc.requestId).toMatch(idShape);
    expect(rc.extendedRequestId).toBe(rc.requestId);
    expect(rc.requestTime).toMatch(requestTimeShape);
    expect(typeof rc.connectedAt).toBe('number');
    expect(rc.requestTimeEpoch).toBeGreaterThanOrEqual(rc.connectedAt);
    expect(rc.authorizer).toBeUndefined();
    expect(g.connectionCount()).toBe(1);
    expect(g.stats().connectionsAccepted).toBe(1);
  });

  it('gives null query parameters when the URL has none', async () => {
    const onConnect = recorder();
    const g = await gateway({ routes: new Map([['$connect', route(onConnect.invoke, false)]]) });

    await connect(g.url);

    const event = await onConnect.next();
    expect(event.queryStringParameters).toBeNull();
    expect(event.multiValueQueryStringParameters).toBeNull();
  });

  it("refuses with the $connect handler's status and does not register the connection", async () => {
    const onConnect = recorder(() => ({ statusCode: 403, body: 'no' }));
    const onDisconnect = recorder();
    const g = await gateway({
      routes: new Map([
        ['$connect', route(onConnect.invoke, false)],
        ['$disconnect', route(onDisconnect.invoke, false)],
      ]),
    });

    const result = await handshakeStatus(`${g.url}?eventId=E1`);

    expect(result.status).toBe(403);
    expect(onConnect.events).toHaveLength(1);
    expect(g.connectionCount()).toBe(0);
    expect(g.stats().connectionsRefused).toBe(1);
    expect(onDisconnect.events).toHaveLength(0);
  });

  it('refuses with 500 when $connect throws', async () => {
    const g = await gateway({
      routes: new Map([['$connect', route(async () => Promise.reject(new Error('boom')), false)]]),
    });

    expect((await handshakeStatus(g.url)).status).toBe(500);
  });

  it('refuses with 503 (a load refusal, as the contract says) a handshake whose authorizer and $connect took longer than handshakeTimeoutMs', async () => {
    // AWS ends the handshake at the Lambdas' timeouts; the delivery worker's connect grace counts on it.
    const slow = route(() => sleep(400, { statusCode: 200 }), false);
    const g = await gateway({ handshakeTimeoutMs: 150, routes: new Map([['$connect', slow]]) });
    expect((await handshakeStatus(g.url)).status).toBe(503);
    expect(g.stats()).toMatchObject({ handshakesTimedOut: 1, handshakesUnavailable: 1, connectionsAccepted: 0 });
    // In time, the same handshake opens.
    const quick = await gateway({ handshakeTimeoutMs: 1_000, routes: new Map([['$connect', slow]]) });
    expect((await handshakeStatus(quick.url)).status).toBe(101);
  });

  it('accepts a $connect result without a statusCode', async () => {
    const g = await gateway({ routes: new Map([['$connect', route(async () => undefined, false)]]) });

    expect((await handshakeStatus(g.url)).status).toBe(101);
  });

  it('hands the subprotocol $connect returns to the client', async () => {
    const g = await gateway({
      routes: new Map([
        [
          '$connect',
          route(async () => ({ statusCode: 200, headers: { 'Sec-WebSocket-Protocol': 'livecast.v1' } }), false),
        ],
      ]),
    });

    const client = await connect(g.url, { protocols: ['livecast.v1'] });

    expect(client.ws.protocol).toBe('livecast.v1');
  });
});

describe('a connect wave (admission, as API Gateway throttles new connections)', () => {
  /** What the SDK throws when DynamoDB Local is too busy: a socket timeout, a lost transaction race. */
  const timeout = Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' });
  const conflict = Object.assign(
    new Error(
      'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
    ),
    {
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
    },
  );

  /** A $connect that holds each handshake until the test lets it go. */
  function gate() {
    const held: (() => void)[] = [];
    let started = 0;
    const invoke: Invoke = () => {
      started += 1;
      return new Promise((resolve) => held.push(() => resolve({ statusCode: 200 })));
    };
    return { invoke, started: () => started, releaseAll: () => held.splice(0).forEach((go) => go()) };
  }

  it('refuses past the new-connection rate with 429 LimitExceededException, at once and without running $connect', async () => {
    const onConnect = recorder();
    const g = await gateway({
      connectRatePerSecond: 0.001,
      connectBurst: 3,
      routes: new Map([['$connect', route(onConnect.invoke, false)]]),
    });

    const results = await Promise.all(Array.from({ length: 5 }, () => handshakeStatus(g.url)));

    expect(results.map((r) => r.status).sort()).toEqual([101, 101, 101, 429, 429]);
    expect(JSON.parse(results.find((r) => r.status === 429)!.body)).toEqual({ message: 'Too Many Requests' });
    expect(onConnect.events).toHaveLength(3);
    expect(g.stats()).toMatchObject({ connectionsAccepted: 3, connectionsRefused: 2, handshakesThrottled: 2 });
  });

  it('runs at most maxConcurrentHandshakes at once; the next waits for a slot, then runs', async () => {
    // The queue's own bounds (512 waiting, 5 s), past which a handshake is refused 503, are
    // HandshakeAdmission's: test/unit/local-handshake-admission.test.ts.
    const connect = gate();
    const g = await gateway({
      maxConcurrentHandshakes: 2,
      routes: new Map([['$connect', route(connect.invoke, false)]]),
    });

    const all = Array.from({ length: 3 }, () => handshakeStatus(g.url));
    await expect.poll(() => connect.started()).toBe(2);
    connect.releaseAll();
    await expect.poll(() => connect.started()).toBe(3);
    connect.releaseAll();

    expect((await Promise.all(all)).map((r) => r.status)).toEqual([101, 101, 101]);
    expect(g.stats()).toMatchObject({ connectionsAccepted: 3, handshakesUnavailable: 0 });
  });

  it('answers 503, not 500, when $connect or the authorizer fails for capacity (SDK timeout, transaction conflict)', async () => {
    for (const err of [timeout, conflict]) {
      const viaConnect = await gateway({
        routes: new Map([['$connect', route(async () => Promise.reject(err), false)]]),
      });
      const viaAuthorizer = await gateway({
        authorizer: { identitySource: ['route.request.querystring.eventId'], invoke: async () => Promise.reject(err) },
        routes: new Map(),
      });

      const refused = await handshakeStatus(viaConnect.url);
      expect(refused).toEqual({ status: 503, body: JSON.stringify({ message: 'Service Unavailable' }) });
      expect((await handshakeStatus(`${viaAuthorizer.url}?eventId=E1`)).status).toBe(503);
      expect(viaConnect.connectionCount()).toBe(0);
    }
  });

  it('answers 503 without running the authorizer while the backend says it is unavailable', async () => {
    let down: string | undefined = 'DynamoDB Local exited (SIGKILL) and is restarting';
    const authorize = recorder(() => allowPolicy('viewer', {}));
    const g = await gateway({
      unavailable: () => down,
      authorizer: { identitySource: ['route.request.querystring.eventId'], invoke: authorize.invoke },
      routes: new Map(),
    });

    expect((await handshakeStatus(`${g.url}?eventId=E1`)).status).toBe(503);
    expect(authorize.events).toHaveLength(0);
    down = undefined;
    expect((await handshakeStatus(`${g.url}?eventId=E1`)).status).toBe(101);
  });
});

describe('$connect authorizer', () => {
  const identitySource = ['route.request.querystring.eventId'];

  it('refuses with 401 without invoking the authorizer when an identity source is missing or empty', async () => {
    const auth = recorder(() => allowPolicy('me', {}));
    const g = await gateway({ authorizer: { identitySource, invoke: auth.invoke }, routes: new Map() });

    expect((await handshakeStatus(g.url)).status).toBe(401);
    expect((await handshakeStatus(`${g.url}?eventId=`)).status).toBe(401);
    expect(auth.events).toHaveLength(0);
  });

  it('reads header identity sources case-insensitively', async () => {
    const auth = recorder(() => allowPolicy('me', {}));
    const g = await gateway({
      authorizer: { identitySource: ['route.request.header.X-Api-Token'], invoke: auth.invoke },
      routes: new Map(),
    });

    expect((await handshakeStatus(g.url)).status).toBe(401);
    await connect(g.url, { headers: { 'x-api-token': 'abc' } });
    expect(auth.events).toHaveLength(1);
  });

  it('invokes the authorizer with a REQUEST event', async () => {
    const auth = recorder(() => allowPolicy('me', {}));
    const g = await gateway({
      authorizer: { identitySource, invoke: auth.invoke },
      routes: new Map(),
    });

    await connect(`${g.url}?eventId=E1`);
    const event = await auth.next();

    expect(event.type).toBe('REQUEST');
    expect(event.methodArn).toBe('arn:aws:execute-api:local:000000000000:local/local/$connect');
    expect(event.queryStringParameters).toEqual({ eventId: 'E1' });
    expect(event.stageVariables).toEqual({});
    expect(event.headers['user-agent']).toBe('livecast-test/1.0');
    expect(event.requestContext).toMatchObject({ routeKey: '$connect', eventType: 'CONNECT', stage: 'local' });
  });

  it('refuses with 403 when the policy denies', async () => {
    const onConnect = recorder();
    const g = await gateway({
      authorizer: { identitySource, invoke: async () => allowPolicy('me', {}, 'Deny') },
      routes: new Map([['$connect', route(onConnect.invoke, false)]]),
    });

    expect((await handshakeStatus(`${g.url}?eventId=E1`)).status).toBe(403);
    expect(onConnect.events).toHaveLength(0);
  });

  it("refuses with 401 when the authorizer throws 'Unauthorized', and 500 for any other throw", async () => {
    const g1 = await gateway({
      authorizer: { identitySource, invoke: async () => Promise.reject(new Error('Unauthorized')) },
      routes: new Map(),
    });
    const g2 = await gateway({
      authorizer: { identitySource, invoke: async () => Promise.reject(new Error('table missing')) },
      routes: new Map(),
    });

    const unauthorized = await handshakeStatus(`${g1.url}?eventId=E1`);
    const broken = await handshakeStatus(`${g2.url}?eventId=E1`);

    expect(unauthorized.status).toBe(401);
    expect(JSON.parse(unauthorized.body)).toEqual({ message: 'Unauthorized' });
    expect(broken.status).toBe(500);
  });

  it('puts principalId and context in requestContext.authorizer of $connect, messages and $disconnect', async () => {
    const onConnect = recorder();
    const onDefault = recorder();
    const onDisconnect = recorder();
    const g = await gateway({
      authorizer: {
        identitySource,
        invoke: async () => allowPolicy('reporter-1', { role: 'reporter', eventId: 'E1', level: 3 }),
      },
      routes: new Map([
        ['$connect', route(onConnect.invoke, false)],
        ['$default', route(onDefault.invoke, false)],
        ['$disconnect', route(onDisconnect.invoke, false)],
      ]),
    });

    const client = await connect(`${g.url}?eventId=E1`);
    client.ws.send('hello');
    const message = await onDefault.next();
    client.ws.close();
    const disconnect = await onDisconnect.next();
    const connectEvent = await onConnect.next();

    const expected = { principalId: 'reporter-1', role: 'reporter', eventId: 'E1', level: '3' };
    expect(connectEvent.requestContext.authorizer).toMatchObject(expected);
    expect(message.requestContext.authorizer).toMatchObject(expected);
    expect(disconnect.requestContext.authorizer).toMatchObject(expected);
  });
});

// ---- messages --------------------------------------------------------------------------------

describe('messages', () => {
  async function routed(extra: [string, WsRoute][] = []) {
    const publish = recorder(() => ({ statusCode: 200, body: '{"type":"ack"}' }));
    const fallback = recorder(() => ({ statusCode: 200, body: '{"type":"error","code":"bad_request"}' }));
    const g = await gateway({
      routes: new Map([['publish', route(publish.invoke)], ['$default', route(fallback.invoke)], ...extra]),
    });
    const client = await connect(g.url);
    return { g, client, publish, fallback };
  }

  it('routes by action and builds the MESSAGE event', async () => {
    const { g, client, publish } = await routed();

    client.ws.send('{"action":"publish","text":"hi"}');
    const event = await publish.next();

    expect(event.body).toBe('{"action":"publish","text":"hi"}');
    expect(event.isBase64Encoded).toBe(false);
    expect(event.requestContext).toMatchObject({
      routeKey: 'publish',
      eventType: 'MESSAGE',
      messageDirection: 'IN',
      stage: 'local',
      apiId: 'local',
      domainName: `127.0.0.1:${g.port}`,
    });
    expect(event.requestContext.messageId).toMatch(idShape);
    expect(event.requestContext.connectionId).toMatch(idShape);
    expect(await client.nextMessage()).toBe('{"type":"ack"}');
  });

  it('falls back to $default for non-JSON, unknown actions, non-string actions and $ routes', async () => {
    const { client, publish, fallback } = await routed();

    for (const body of ['not json', '{"action":"nope"}', '{"action":5}', '{"action":"$connect"}', '["publish"]']) {
      client.ws.send(body);
      expect((await fallback.next()).body).toBe(body);
    }
    expect(publish.events).toHaveLength(0);
  });

  it('answers Forbidden like AWS when nothing matches and there is no $default', async () => {
    const g = await gateway({ routes: new Map([['publish', route(async () => ({ statusCode: 200 }))]]) });
    const client = await connect(g.url);

    client.ws.send('{"action":"unknown"}');
    const reply = JSON.parse(await client.nextMessage());

    expect(reply.message).toBe('Forbidden');
    expect(reply.connectionId).toMatch(idShape);
    expect(reply.requestId).toMatch(idShape);
  });

  it('returns the body only on routes with returnResponse', async () => {
    const silent = recorder(() => ({ statusCode: 200, body: 'must not be sent' }));
    const { client } = await routed([['quiet', route(silent.invoke, false)]]);

    client.ws.send('{"action":"quiet"}');
    await silent.next();
    client.ws.send('{"action":"publish"}');

    // Messages arrive in order, so the first one seen must be publish's.
    expect(await client.nextMessage()).toBe('{"type":"ack"}');
  });

  it("sends AWS's 'Internal server error' message when a handler throws", async () => {
    const g = await gateway({
      routes: new Map([['$default', route(async () => Promise.reject(new Error('db down')))]]),
    });
    const client = await connect(g.url);

    client.ws.send('x');
    const reply = JSON.parse(await client.nextMessage());

    expect(reply).toEqual({
      message: 'Internal server error',
      connectionId: expect.stringMatching(idShape),
      requestId: expect.stringMatching(idShape),
    });
    expect(JSON.stringify(reply)).not.toContain('db down');
  });

  it('passes a binary frame to $default as base64', async () => {
    const { client, fallback } = await routed();

    client.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    const event = await fallback.next();

    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body, 'base64')).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it("processes one connection's messages one at a time, in order", async () => {
    const order: string[] = [];
    const slow: Invoke = async (event) => {
      order.push(`start ${event.body}`);
      await sleep(event.body === '1' ? 30 : 0);
      order.push(`end ${event.body}`);
      return { statusCode: 200, body: `done ${event.body}` };
    };
    const g = await gateway({ routes: new Map([['$default', route(slow)]]) });
    const client = await connect(g.url);

    for (const n of ['1', '2', '3']) client.ws.send(n);
    const replies = [await client.nextMessage(), await client.nextMessage(), await client.nextMessage()];

    expect(replies).toEqual(['done 1', 'done 2', 'done 3']);
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('closes with 1009 when a client message is over 128 KiB', async () => {
    const onDefault = recorder();
    const onDisconnect = recorder();
    const g = await gateway({
      routes: new Map([
        ['$default', route(onDefault.invoke)],
        ['$disconnect', route(onDisconnect.invoke, false)],
      ]),
    });
    const client = await connect(g.url);

    client.ws.send('x'.repeat(128 * 1024 + 1));

    expect((await client.closed).code).toBe(1009);
    await onDisconnect.next();
    expect(onDefault.events).toHaveLength(0);
    expect(g.connectionCount()).toBe(0);
  });
});

// ---- disconnects and timeouts ----------------------------------------------------------------

describe('disconnects', () => {
  it('invokes $disconnect with the status and reason of a client close', async () => {
    const onConnect = recorder();
    const onDisconnect = recorder();
    const g = await gateway({
      routes: new Map([
        ['$connect', route(onConnect.invoke, false)],
        ['$disconnect', route(onDisconnect.invoke, false)],
      ]),
    });
    const client = await connect(g.url);

    client.ws.close(4000, 'bye');
    const event = await onDisconnect.next();
    const connectEvent = await onConnect.next();

    expect(event.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 4000,
      disconnectReason: 'bye',
      connectionId: connectEvent.requestContext.connectionId,
      connectedAt: connectEvent.requestContext.connectedAt,
    });
    expect(g.connectionCount()).toBe(0);
  });

  it('survives a throwing $disconnect', async () => {
    const g = await gateway({
      routes: new Map([
        ['$disconnect', route(async () => Promise.reject(new Error('gone wrong')), false)],
        ['$default', route(async (e) => ({ statusCode: 200, body: e.body }))],
      ]),
    });
    const first = await connect(g.url);
    first.ws.close();
    await first.closed;

    const second = await connect(g.url);
    second.ws.send('still alive');

    expect(await second.nextMessage()).toBe('still alive');
  });

  it("closes an idle connection with 1001 'Going away'", async () => {
    const onDisconnect = recorder();
    const g = await gateway({
      idleTimeoutMs: 100,
      routes: new Map([['$disconnect', route(onDisconnect.invoke, false)]]),
    });
    const client = await connect(g.url);

    expect(await client.closed).toEqual({ code: 1001, reason: 'Going away' });
    const event = await onDisconnect.next();
    expect(event.requestContext.disconnectStatusCode).toBe(1001);
  });

  it('closes a connection at the end of its lifetime even when active', async () => {
    const g = await gateway({ maxLifetimeMs: 200, routes: new Map([['$default', route(async () => ({}))]]) });
    const client = await connect(g.url);
    const keepBusy = setInterval(() => client.ws.readyState === WebSocket.OPEN && client.ws.send('ping'), 20);

    const closed = await client.closed;
    clearInterval(keepBusy);

    expect(closed.code).toBe(1001);
  });

  it('close() closes every socket with $disconnect and stops listening', async () => {
    const onDisconnect = recorder();
    const g = await startWsGateway({
      port: 0,
      log: () => {},
      routes: new Map([['$disconnect', route(onDisconnect.invoke, false)]]),
    });
    const a = await connect(g.url);
    const b = await connect(g.url);

    await g.close();

    expect(onDisconnect.events).toHaveLength(2);
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    await expect(fetch(`${g.managementEndpoint}/@connections/x`)).rejects.toThrow();
  });
});

// ---- management API --------------------------------------------------------------------------

describe('management API with the real SDK client', () => {
  async function connected() {
    const onConnect = recorder();
    const onDisconnect = recorder();
    const g = await gateway({
      routes: new Map([
        ['$connect', route(onConnect.invoke, false)],
        ['$disconnect', route(onDisconnect.invoke, false)],
      ]),
    });
    const client = await connect(g.url);
    const connectionId: string = (await onConnect.next()).requestContext.connectionId;
    return { g, client, connectionId, onDisconnect, api: sdk(g.managementEndpoint) };
  }

  it('PostToConnection delivers the exact bytes as one text message', async () => {
    const { g, client, connectionId, api } = await connected();
    const frame = JSON.stringify({ type: 'update', entry: { seq: 1, text: 'Grüße 🎉' } });

    const out = await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(frame) }));

    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(await client.nextMessage()).toBe(frame);
    expect(g.stats().postsOut).toBe(1);
  });

  it('accepts the stage-prefixed endpoint AWS uses', async () => {
    const { g, client, connectionId } = await connected();
    const api = sdk(`${g.managementEndpoint}/local`);

    await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'hello' }));

    expect(await client.nextMessage()).toBe('hello');
  });

  it('answers 410 GoneException for a closed or unknown connection', async () => {
    const { g, client, connectionId, api, onDisconnect } = await connected();
    client.ws.close();
    await onDisconnect.next();

    const error = await api
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'late' }))
      .catch((e: unknown) => e);
    const unknown = await api
      .send(new GetConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=' }))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
    expect(unknown).toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
    expect(g.stats().postsGone).toBe(1);
  });

  it('GetConnection describes the connection', async () => {
    const { connectionId, api } = await connected();

    const out = await api.send(new GetConnectionCommand({ ConnectionId: connectionId }));

    expect(out.ConnectedAt).toBeInstanceOf(Date);
    expect(out.LastActiveAt).toBeInstanceOf(Date);
    expect(out.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'livecast-test/1.0' });
  });

  it('DeleteConnection closes the socket and triggers $disconnect', async () => {
    const { g, client, connectionId, api, onDisconnect } = await connected();

    const out = await api.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));

    expect(out.$metadata.httpStatusCode).toBe(204);
    await client.closed;
    const event = await onDisconnect.next();
    expect(event.requestContext.connectionId).toBe(connectionId);
    expect(g.connectionCount()).toBe(0);
    const again = await api.send(new DeleteConnectionCommand({ ConnectionId: connectionId })).catch((e: unknown) => e);
    expect(again).toMatchObject({ name: 'GoneException' });
  });

  it('a post over 128 KiB answers PayloadTooLargeException and closes the socket with 1009', async () => {
    const { client, connectionId, api, onDisconnect } = await connected();

    const error = await api
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.alloc(128 * 1024 + 1, 0x61) }))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'PayloadTooLargeException', $metadata: { httpStatusCode: 413 } });
    expect((await client.closed).code).toBe(1009);
    expect((await onDisconnect.next()).requestContext.disconnectStatusCode).toBe(1009);
  });

  it('answers 404 for other paths and 405 for other methods, as JSON', async () => {
    const { g, connectionId } = await connected();

    const other = await fetch(`${g.managementEndpoint}/nothing-here`);
    const wrongMethod = await fetch(`${g.managementEndpoint}/@connections/${encodeURIComponent(connectionId)}`, {
      method: 'PUT',
    });

    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ message: 'Not Found' });
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toEqual({ message: 'Method Not Allowed' });
  });
});

describe('start-up', () => {
  it('rejects a taken port with an error naming WS_PORT', async () => {
    const first = await gateway({ routes: new Map() });

    const second = startWsGateway({ port: first.port, routes: new Map(), log: () => {} });

    await expect(second).rejects.toThrow(new RegExp(`port ${first.port}.*already taken.*WS_PORT`));
  });

  it('exposes the URLs of a bound port', async () => {
    const g = await gateway({ routes: new Map() });

    expect(g.url).toBe(`ws://127.0.0.1:${g.port}`);
    expect(g.managementEndpoint).toBe(`http://127.0.0.1:${g.port}`);
  });
});
