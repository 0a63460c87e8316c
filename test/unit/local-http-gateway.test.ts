// The local HTTP API gateway: payload 2.0 events, AWS's route priorities, response mapping, limits, CORS.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpGateway, type HttpGatewayOptions, type Invoke, startHttpGateway } from '../../local/http-gateway';

/** A fake handler that records its events. */
function recorder(respond: (event: any) => unknown = () => ({ statusCode: 200, body: '{}' })) {
  const events: any[] = [];
  const invoke: Invoke = async (event) => {
    events.push(event);
    return respond(event);
  };
  return { events, invoke };
}

const gateways: HttpGateway[] = [];

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(opts: Partial<HttpGatewayOptions> & Pick<HttpGatewayOptions, 'routes'>): Promise<HttpGateway> {
  const g = await startHttpGateway({ port: 0, log: () => {}, ...opts });
  gateways.push(g);
  return g;
}

/** A raw request, for headers fetch would not send (duplicates, cookies) and bodies without a length. */
function request(
  url: string,
  opts: {
    method?: string;
    headers?: http.OutgoingHttpHeaders | [string, string][];
    body?: Buffer | string;
    chunked?: boolean;
  } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    // Node takes repeated headers as a flat [name, value, name, value…] list, and then adds no Host.
    const headers = Array.isArray(opts.headers) ? [['Host', new URL(url).host], ...opts.headers].flat() : opts.headers;
    const req = http.request(url, { method: opts.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    if (opts.body !== undefined) {
      if (opts.chunked) {
        // Two writes without a content-length: the size is only known while reading.
        const body = Buffer.from(opts.body);
        req.write(body.subarray(0, body.length >> 1));
        req.end(body.subarray(body.length >> 1));
        return;
      }
      req.end(opts.body);
    } else req.end();
  });
}

const idShape = /^[A-Za-z0-9+/]{15}=$/;

describe('payload format 2.0 events', () => {
  it('carries route key, raw path and query, decoded path parameters, joined headers and cookies', async () => {
    const timeline = recorder();
    const g = await gateway({
      routes: [{ routeKey: 'GET /events/{eventId}/timeline', invoke: timeline.invoke }],
      apiId: 'h77',
    });

    await request(`${g.url}/events/ev%201/timeline?after=3&limit=5&tag=a&tag=b`, {
      headers: [
        ['X-Trace', 'one'],
        ['X-Trace', 'two'],
        ['Cookie', 'a=1; b=2'],
        ['User-Agent', 'replay-page/2'],
      ],
    });
    const event = timeline.events[0];

    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /events/{eventId}/timeline',
      rawPath: '/events/ev%201/timeline',
      rawQueryString: 'after=3&limit=5&tag=a&tag=b',
      cookies: ['a=1', 'b=2'],
      queryStringParameters: { after: '3', limit: '5', tag: 'a,b' },
      pathParameters: { eventId: 'ev 1' },
      isBase64Encoded: false,
    });
    expect(event.headers['x-trace']).toBe('one,two');
    expect(event.headers['user-agent']).toBe('replay-page/2');
    expect(event.headers.cookie).toBeUndefined();
    expect(Object.keys(event.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(event.body).toBeUndefined();
    expect(event.requestContext).toMatchObject({
      accountId: expect.any(String),
      apiId: 'h77',
      domainName: `127.0.0.1:${g.port}`,
      http: {
        method: 'GET',
        path: '/events/ev%201/timeline',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'replay-page/2',
      },
      routeKey: 'GET /events/{eventId}/timeline',
      stage: '$default',
      timeEpoch: expect.any(Number),
    });
    expect(event.requestContext.requestId).toMatch(idShape);
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('leaves out query, path parameters, cookies and body when there are none', async () => {
    const list = recorder();
    const g = await gateway({ routes: [{ routeKey: 'GET /events', invoke: list.invoke }] });

    await fetch(`${g.url}/events`);

    const event = list.events[0];
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('pathParameters');
    expect(event).not.toHaveProperty('cookies');
    expect(event).not.toHaveProperty('body');
  });

  it('passes a JSON body as text and other bodies as base64', async () => {
    const create = recorder();
    const g = await gateway({ routes: [{ routeKey: 'POST /events', invoke: create.invoke }] });

    await fetch(`${g.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"title":"Opening ✨"}',
    });
    await fetch(`${g.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([0, 255]),
    });

    expect(create.events[0]).toMatchObject({ body: '{"title":"Opening ✨"}', isBase64Encoded: false });
    expect(create.events[1]).toMatchObject({ body: Buffer.from([0, 255]).toString('base64'), isBase64Encoded: true });
  });
});

describe('routing', () => {
  async function routed() {
    const hit =
      (name: string): Invoke =>
      async (event) => ({
        statusCode: 200,
        body: JSON.stringify({ name, pathParameters: event.pathParameters ?? null }),
      });
    return gateway({
      routes: [
        { routeKey: 'ANY /{proxy+}', invoke: hit('proxy') },
        { routeKey: 'GET /events/{eventId}', invoke: hit('param') },
        { routeKey: 'GET /events/special', invoke: hit('literal') },
        { routeKey: 'ANY /events/{eventId}', invoke: hit('any-param') },
      ],
    });
  }

  it('picks the most specific route: literal, then variable, then greedy; a method before ANY', async () => {
    const g = await routed();

    const special = await (await fetch(`${g.url}/events/special`)).json();
    const param = await (await fetch(`${g.url}/events/e1`)).json();
    const anyParam = await (await fetch(`${g.url}/events/e1`, { method: 'DELETE' })).json();
    const greedy = await (await fetch(`${g.url}/other/a%2Fb/c`)).json();

    expect(special).toEqual({ name: 'literal', pathParameters: null });
    expect(param).toEqual({ name: 'param', pathParameters: { eventId: 'e1' } });
    expect(anyParam).toEqual({ name: 'any-param', pathParameters: { eventId: 'e1' } });
    expect(greedy).toEqual({ name: 'proxy', pathParameters: { proxy: 'other/a/b/c' } });
  });

  it('answers 404 Not Found when nothing matches and there is no $default', async () => {
    const g = await gateway({ routes: [{ routeKey: 'GET /events/{eventId}', invoke: recorder().invoke }] });

    const wrongMethod = await fetch(`${g.url}/events/e1`, { method: 'POST', body: '{}' });
    const tooDeep = await fetch(`${g.url}/events/e1/extra`);

    expect(wrongMethod.status).toBe(404);
    expect(await wrongMethod.json()).toEqual({ message: 'Not Found' });
    expect(tooDeep.status).toBe(404);
  });

  it('sends unmatched requests to $default with routeKey $default', async () => {
    const fallback = recorder(() => ({ statusCode: 404, body: '{"error":{"code":"not_found"}}' }));
    const g = await gateway({
      routes: [
        { routeKey: 'GET /events', invoke: recorder().invoke },
        { routeKey: '$default', invoke: fallback.invoke },
      ],
    });

    const res = await fetch(`${g.url}/nowhere?x=1`);

    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found' } });
    expect(fallback.events[0]).toMatchObject({
      routeKey: '$default',
      rawPath: '/nowhere',
      requestContext: { routeKey: '$default' },
    });
  });

  it('tries the fallback before $default', async () => {
    const fallback = recorder();
    const g = await gateway({
      routes: [{ routeKey: '$default', invoke: fallback.invoke }],
      fallback: (req, res) => {
        if (!req.url?.startsWith('/live/')) return false;
        res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>live</h1>');
        return true;
      },
    });

    const page = await fetch(`${g.url}/live/e1`);
    const other = await fetch(`${g.url}/api/x`);

    expect(await page.text()).toBe('<h1>live</h1>');
    expect(other.status).toBe(200);
    expect(fallback.events.map((e) => e.rawPath)).toEqual(['/api/x']);
  });
});

describe('responses', () => {
  it('writes a structured result as is, with cookies and base64 bodies', async () => {
    const g = await gateway({
      routes: [
        {
          routeKey: 'POST /events',
          invoke: async () => ({
            statusCode: 201,
            headers: { 'content-type': 'application/json', 'x-seq': 7 },
            body: '{"eventId":"e1"}',
            cookies: ['s=1; Path=/'],
          }),
        },
        {
          routeKey: 'GET /image',
          invoke: async () => ({
            statusCode: 200,
            headers: { 'content-type': 'image/png' },
            body: Buffer.from([1, 2, 3]).toString('base64'),
            isBase64Encoded: true,
          }),
        },
      ],
    });

    const created = await fetch(`${g.url}/events`, { method: 'POST', body: '{}' });
    const image = await fetch(`${g.url}/image`);

    expect(created.status).toBe(201);
    expect(created.headers.get('x-seq')).toBe('7');
    expect(created.headers.get('set-cookie')).toBe('s=1; Path=/');
    expect(await created.json()).toEqual({ eventId: 'e1' });
    expect(Buffer.from(await image.arrayBuffer())).toEqual(Buffer.from([1, 2, 3]));
  });

  it('infers 200 JSON for a result without statusCode, as payload 2.0 does', async () => {
    const g = await gateway({
      routes: [
        { routeKey: 'GET /object', invoke: async () => ({ lastSeq: 4 }) },
        { routeKey: 'GET /string', invoke: async () => 'plain' },
      ],
    });

    const object = await fetch(`${g.url}/object`);
    const text = await fetch(`${g.url}/string`);

    expect(object.status).toBe(200);
    expect(object.headers.get('content-type')).toBe('application/json');
    expect(await object.json()).toEqual({ lastSeq: 4 });
    expect(await text.text()).toBe('plain');
  });

  it('answers 500 Internal Server Error when a handler throws, without leaking the error', async () => {
    const g = await gateway({
      routes: [{ routeKey: 'GET /boom', invoke: async () => Promise.reject(new Error('secret detail')) }],
    });

    const res = await fetch(`${g.url}/boom`);

    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ message: 'Internal Server Error' });
  });
});

describe('limits and CORS', () => {
  it('answers 413 for a body over maxBodyBytes, declared or streamed, without invoking the handler', async () => {
    const create = recorder();
    const g = await gateway({ routes: [{ routeKey: 'POST /events', invoke: create.invoke }], maxBodyBytes: 1024 });

    const declared = await request(`${g.url}/events`, { method: 'POST', body: 'x'.repeat(1025) });
    const streamed = await request(`${g.url}/events`, { method: 'POST', body: 'x'.repeat(4096), chunked: true });
    const fits = await request(`${g.url}/events`, {
      method: 'POST',
      body: 'x'.repeat(1024),
      headers: { 'content-type': 'text/plain' },
    });

    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toEqual({ message: 'Request Entity Too Large' });
    expect(streamed.status).toBe(413);
    expect(fits.status).toBe(200);
    expect(create.events).toHaveLength(1);
  });

  it('answers CORS preflights itself and marks every response', async () => {
    const handler = recorder();
    const g = await gateway({ routes: [{ routeKey: 'POST /events', invoke: handler.invoke }] });

    const preflight = await fetch(`${g.url}/events`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://example.test',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    const post = await fetch(`${g.url}/events`, { method: 'POST', body: '{}' });

    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    expect(post.headers.get('access-control-allow-origin')).toBe('*');
    expect(handler.events).toHaveLength(1);
  });

  it('rejects a taken port with an error naming PORT', async () => {
    const first = await gateway({ routes: [] });

    await expect(startHttpGateway({ port: first.port, routes: [], log: () => {} })).rejects.toThrow(
      new RegExp(`port ${first.port}.*already taken.*\\bPORT\\b`),
    );
  });
});
