// Local stand-in for an API Gateway HTTP API ($default stage): matches routes the way AWS does and
// invokes the handlers in-process with payload-format 2.0 events, writing their results back as AWS would.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { listen } from './errors';
import { gatewayId, gatewayTime, lambdaContext, type Invoke } from './lambda-context';

// `any` on purpose: the gateway builds the events by hand, and each handler module types its own.
export type { Invoke };

export interface HttpRoute {
  /** `METHOD /path/{param}/{rest+}`, `ANY /path`, or `$default`. */
  readonly routeKey: string;
  readonly invoke: Invoke;
  /** Name on the fake Lambda context; defaults to one derived from the route key. */
  readonly functionName?: string;
}

export interface HttpGatewayOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly routes: ReadonlyArray<HttpRoute>;
  /** Tried when no route matches, before `$default`; returns true if it handled the request. */
  readonly fallback?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
  /** Larger bodies get 413, as API Gateway's 10 MiB payload limit does. */
  readonly maxBodyBytes?: number;
  readonly apiId?: string;
  /**
   * Says why the backend cannot serve now (DynamoDB Local is down and restarting), or undefined
   * when it can. Routes then answer 503, which clients retry, instead of the handlers' 500s.
   */
  readonly unavailable?: () => string | undefined;
  /**
   * Tests only: take `requestContext.http.sourceIp` from the first address of the request's
   * `X-Forwarded-For` (when it is one), so one machine can stand for callers on many networks.
   * AWS never does this: a client can put anything in that header. Default false.
   */
  readonly trustForwardedFor?: boolean;
  /** Lifecycle and failure lines only; nothing is logged per request. */
  readonly log?: (line: string) => void;
}

export interface HttpGateway {
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'greedy'; name: string };

interface CompiledRoute {
  readonly routeKey: string;
  /** Upper case, or `ANY`. */
  readonly method: string;
  readonly segments: readonly Segment[];
  readonly route: HttpRoute;
}

const tenMiB = 10 * 1024 * 1024;
const notFound = '{"message":"Not Found"}';
const internalError = '{"message":"Internal Server Error"}';
const tooLarge = '{"message":"Request Entity Too Large"}';
const unavailableBody = '{"message":"Service Unavailable"}';

export async function startHttpGateway(opts: HttpGatewayOptions): Promise<HttpGateway> {
  const host = opts.host ?? '127.0.0.1';
  const maxBodyBytes = opts.maxBodyBytes ?? tenMiB;
  const apiId = opts.apiId ?? 'local';
  const log = opts.log ?? ((line: string) => console.log(line));

  const compiled = opts.routes
    .filter((r) => r.routeKey !== '$default')
    .map(compile)
    .sort(bySpecificity);
  const defaultRoute = opts.routes.find((r) => r.routeKey === '$default');

  const server = http.createServer({ noDelay: true, keepAlive: true });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    serve(req, res).catch((err: unknown) => {
      log(`http: ${req.method} ${req.url} failed: ${describe(err)}`);
      if (!res.headersSent) send(res, 500, { 'content-type': 'application/json' }, internalError);
      else res.destroy();
    });
  });

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const rawQueryString = q === -1 ? '' : url.slice(q + 1);
    const method = (req.method ?? 'GET').toUpperCase();
    // The stack's CORS (infra/stateless-stack.ts corsPreflight): preflights answered, any origin allowed.
    res.setHeader('access-control-allow-origin', '*');

    // With CORS configured, AWS answers preflights itself, whether or not an OPTIONS route exists.
    if (method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      req.resume();
      res.writeHead(204, {
        'access-control-allow-methods': req.headers['access-control-request-method'] || '*',
        'access-control-allow-headers': req.headers['access-control-request-headers'] || '*',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }

    let match = matchRoute(compiled, method, rawPath);
    if (!match) {
      if (opts.fallback && (await opts.fallback(req, res))) return;
      if (defaultRoute) match = { route: defaultRoute, routeKey: '$default', pathParameters: undefined };
    }
    if (!match) {
      req.resume();
      send(res, 404, { 'content-type': 'application/json' }, notFound);
      return;
    }

    const declared = Number(req.headers['content-length']);
    if (declared > maxBodyBytes) {
      req.resume();
      send(res, 413, { 'content-type': 'application/json' }, tooLarge);
      return;
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) {
      send(res, 413, { 'content-type': 'application/json' }, tooLarge);
      return;
    }

    if (opts.unavailable?.() !== undefined) return sendUnavailable(res);

    const event = buildEvent(req, {
      method,
      rawPath,
      rawQueryString,
      routeKey: match.routeKey,
      pathParameters: match.pathParameters,
      body,
      apiId,
      localPort: port,
      trustForwardedFor: opts.trustForwardedFor === true,
    });
    let result: unknown;
    try {
      result = await match.route.invoke(
        event,
        lambdaContext(match.route.functionName ?? `local-http-${match.routeKey.replace(/[^A-Za-z0-9]+/g, '-')}`),
      );
    } catch (err) {
      if (opts.unavailable?.() !== undefined) return sendUnavailable(res);
      log(`http: ${match.routeKey} threw: ${describe(err)}`);
      send(res, 500, { 'content-type': 'application/json' }, internalError);
      return;
    }
    // It went down while the handler ran: its 500 is the outage, which the client should retry.
    if (opts.unavailable?.() !== undefined && isServerFailure(result)) return sendUnavailable(res);
    writeResult(res, result, log, match.routeKey);
  }

  function sendUnavailable(res: http.ServerResponse): void {
    send(res, 503, { 'content-type': 'application/json', 'retry-after': '1' }, unavailableBody);
  }

  const port = await listen(server, opts.port, host, 'PORT', 'HTTP gateway');
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    port,
    url: `http://${authority}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---- routing ---------------------------------------------------------------------------------

function compile(route: HttpRoute): CompiledRoute {
  const space = route.routeKey.indexOf(' ');
  if (space === -1)
    throw new Error(`HTTP route key ${JSON.stringify(route.routeKey)} is not "METHOD /path" or "$default"`);
  const method = route.routeKey.slice(0, space).toUpperCase();
  const path = route.routeKey.slice(space + 1);
  if (!path.startsWith('/'))
    throw new Error(`HTTP route key ${JSON.stringify(route.routeKey)}: the path must start with /`);
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const segments = parts.map((part, i): Segment => {
    const param = /^\{([A-Za-z0-9._-]+)(\+?)\}$/.exec(part);
    if (!param) return { kind: 'literal', value: part };
    const name = param[1] as string;
    if (param[2] !== '+') return { kind: 'param', name };
    if (i !== parts.length - 1)
      throw new Error(`HTTP route key ${route.routeKey}: a greedy {${name}+} must be the last segment`);
    return { kind: 'greedy', name };
  });
  return { routeKey: route.routeKey, method, segments, route };
}

const rank = { literal: 2, param: 1, greedy: 0 } as const;

/**
 * AWS's priorities: a full literal match beats a path variable, which beats a greedy variable;
 * compared segment by segment from the left. For the same path a method beats ANY.
 */
function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i += 1) {
    const sa = a.segments[i];
    const sb = b.segments[i];
    if (!sa || !sb) return sa ? -1 : 1;
    const diff = rank[sb.kind] - rank[sa.kind];
    if (diff !== 0) return diff;
  }
  return Number(a.method === 'ANY') - Number(b.method === 'ANY');
}

interface Match {
  readonly route: HttpRoute;
  readonly routeKey: string;
  readonly pathParameters: Record<string, string> | undefined;
}

function matchRoute(routes: readonly CompiledRoute[], method: string, rawPath: string): Match | undefined {
  const parts = rawPath === '/' ? [] : rawPath.slice(1).split('/');
  for (const candidate of routes) {
    if (candidate.method !== 'ANY' && candidate.method !== method) continue;
    const params = matchSegments(candidate.segments, parts);
    if (params) {
      return {
        route: candidate.route,
        routeKey: candidate.routeKey,
        pathParameters: Object.keys(params).length ? params : undefined,
      };
    }
  }
  return undefined;
}

function matchSegments(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i += 1) {
    const segment = segments[i] as Segment;
    const part = parts[i];
    if (segment.kind === 'greedy') {
      const rest = parts.slice(i);
      if (rest.length === 0 || rest.join('') === '') return undefined;
      params[segment.name] = decode(rest.join('/'));
      return params;
    }
    if (part === undefined) return undefined;
    if (segment.kind === 'literal') {
      if (decode(part) !== segment.value) return undefined;
    } else {
      if (part === '') return undefined;
      params[segment.name] = decode(part);
    }
  }
  return parts.length === segments.length ? params : undefined;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// ---- events ----------------------------------------------------------------------------------

interface EventParts {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQueryString: string;
  readonly routeKey: string;
  readonly pathParameters: Record<string, string> | undefined;
  readonly body: Buffer;
  readonly apiId: string;
  readonly localPort: number;
  readonly trustForwardedFor: boolean;
}

/** The first address of `X-Forwarded-For`, if it is an IP address (the trustForwardedFor option). */
export function forwardedFor(req: http.IncomingMessage): string | undefined {
  const header = req.headers['x-forwarded-for'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
  return first && isIP(first) ? first : undefined;
}

function buildEvent(req: http.IncomingMessage, p: EventParts) {
  const now = Date.now();
  const sourceIp =
    (p.trustForwardedFor ? forwardedFor(req) : undefined) ??
    (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');

  // Payload 2.0: lower-case names, duplicates joined with commas, cookies moved to their own field.
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === 'cookie') {
      for (const cookie of value.split(';')) if (cookie.trim()) cookies.push(cookie.trim());
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']},${sourceIp}` : sourceIp;
  headers['x-forwarded-port'] ??= String(p.localPort);
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(now / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  let queryStringParameters: Record<string, string> | undefined;
  if (p.rawQueryString) {
    queryStringParameters = {};
    for (const [name, value] of new URLSearchParams(p.rawQueryString)) {
      const previous = queryStringParameters[name];
      queryStringParameters[name] = previous === undefined ? value : `${previous},${value}`;
    }
  }

  const host = (headers.host ?? `127.0.0.1:${p.localPort}`).replace(/:\d+$/, '');
  const text = p.body.length > 0 && isTextual(headers['content-type']);
  const requestId = gatewayId();
  return {
    version: '2.0',
    routeKey: p.routeKey,
    rawPath: p.rawPath,
    rawQueryString: p.rawQueryString,
    ...(cookies.length > 0 && { cookies }),
    headers,
    ...(queryStringParameters && { queryStringParameters }),
    requestContext: {
      accountId: '000000000000',
      apiId: p.apiId,
      domainName: headers.host ?? `127.0.0.1:${p.localPort}`,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: p.method,
        path: p.rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: p.routeKey,
      stage: '$default',
      time: gatewayTime(now),
      timeEpoch: now,
    },
    ...(p.pathParameters && { pathParameters: p.pathParameters }),
    ...(p.body.length > 0 && { body: text ? p.body.toString('utf8') : p.body.toString('base64') }),
    isBase64Encoded: p.body.length > 0 && !text,
  };
}

/**
 * The content types API Gateway passes as text; any other body (including one without a
 * content type, and form posts) reaches the handler base64-encoded, as it does deployed.
 */
function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript' ||
    type === 'application/graphql'
  );
}

/** The body, or undefined when it outgrows the limit. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      // Keep draining past the limit so the 413 reaches a client still writing.
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---- responses -------------------------------------------------------------------------------

function writeResult(res: http.ServerResponse, result: unknown, log: (line: string) => void, routeKey: string): void {
  // Payload 2.0: an object with a statusCode is a structured response; anything else is
  // a 200 JSON body (a string as is, any other value serialized).
  if (!isRecord(result) || result.statusCode === undefined) {
    const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? 'null');
    send(res, 200, { 'content-type': 'application/json' }, body);
    return;
  }
  const status = Number(result.statusCode);
  const body = result.body ?? '';
  if (!Number.isInteger(status) || status < 100 || status > 599 || typeof body !== 'string') {
    log(
      `http: ${routeKey} returned a malformed response (statusCode ${JSON.stringify(result.statusCode)}, body ${typeof body})`,
    );
    send(res, 500, { 'content-type': 'application/json' }, internalError);
    return;
  }
  const headers: http.OutgoingHttpHeaders = {};
  if (isRecord(result.headers)) {
    for (const [name, value] of Object.entries(result.headers)) {
      if (value === undefined || value === null) continue;
      // With CORS configured, AWS's own CORS headers win over the integration's.
      if (name.toLowerCase() === 'access-control-allow-origin' && res.hasHeader('access-control-allow-origin'))
        continue;
      // Handlers give strings, numbers or booleans; anything else is printed as String() prints it, as before.
      headers[name.toLowerCase()] = `${value as string | number | boolean}`;
    }
  }
  if (Array.isArray(result.cookies) && result.cookies.length > 0) {
    headers['set-cookie'] = result.cookies.map(String);
  }
  send(res, status, headers, result.isBase64Encoded === true ? Buffer.from(body, 'base64') : body);
}

function send(
  res: http.ServerResponse,
  status: number,
  headers: http.OutgoingHttpHeaders,
  body: string | Buffer,
): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

function isServerFailure(result: unknown): boolean {
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) return false;
  return Number(result.statusCode) >= 500;
}
