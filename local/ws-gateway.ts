// Local stand-in for an API Gateway WebSocket stage: runs the handshake through the $connect
// authorizer and route, invokes route handlers in-process with the events AWS builds, and serves
// the @connections management API on the same port, so the same handler code runs here and deployed.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from 'aws-lambda';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { type AwsLimits, Limiter, describeLimits, waitUntil } from './aws-limits';
import { listen } from './errors';
import { forwardedFor } from './http-gateway';
import { HandshakeAdmission, isCapacityError } from './handshake-admission';
import { gatewayId, gatewayTime, lambdaContext, type Invoke } from './lambda-context';
import { Slots } from '../shared/domain/slots';
import { MAX_MESSAGE_BYTES } from '../shared/domain/protocol';

// `any` on purpose: the gateway builds the events by hand, and each handler module types its own.
export type { Invoke };

/** A handshake step that ran past the handshake's time (see handshakeTimeoutMs). */
const TIMED_OUT = Symbol('timed out');

export interface WsRoute {
  readonly invoke: Invoke;
  /** Whether the handler's `body` is sent back to the caller (a two-way route). */
  readonly returnResponse: boolean;
  /** Name on the fake Lambda context; defaults to one derived from the route key. */
  readonly functionName?: string;
}

export interface WsAuthorizer {
  /** `route.request.querystring.X` or `route.request.header.X`; a missing one refuses with 401 unseen. */
  readonly identitySource: readonly string[];
  readonly invoke: Invoke;
  readonly functionName?: string;
}

/** One call to the management API, as the interceptor sees it. */
export interface ManagementCall {
  readonly op: 'post' | 'get' | 'delete';
  readonly connectionId: string;
  /** Size of the posted data; 0 for get and delete. */
  readonly bytes: number;
}

/** An answer that replaces the real one, e.g. 429 LimitExceededException or an injected 410 GoneException. */
export interface ManagementRefusal {
  readonly status: number;
  readonly errorType: string;
  readonly message: string;
}

/**
 * The single seam for imitating AWS limits on the @connections API: it runs before every call,
 * may wait (latency), and may answer instead of the gateway (token bucket → 429, injected 410s).
 */
export type ManagementInterceptor = (
  call: ManagementCall,
) => ManagementRefusal | undefined | Promise<ManagementRefusal | undefined>;

export interface WsGatewayOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly stage?: string;
  readonly apiId?: string;
  /** The `$connect` REQUEST authorizer. */
  readonly authorizer?: WsAuthorizer;
  /** Route key → handler, including `$connect`, `$disconnect` and `$default` when configured. */
  readonly routes: ReadonlyMap<string, WsRoute>;
  /** No message from the client for this long closes the socket (AWS: 10 min). */
  readonly idleTimeoutMs?: number;
  /** A connection is closed this long after it opened (AWS: 2 h). */
  readonly maxLifetimeMs?: number;
  /**
   * AWS invokes a connection's messages concurrently, so handlers may see them out of order.
   * Locally we default to one at a time, in order, so runs and tests are deterministic; set this
   * to true to get AWS's reordering when testing that the handlers tolerate it.
   */
  readonly concurrentMessages?: boolean;
  /**
   * Message routes' handlers running at once, across connections; more wait their turn. On AWS
   * each invocation has an environment (and SDK connection pool) of its own; here one process
   * hosts them all, and a storm of thousands of messages at once would queue on its connection
   * pools until their timeouts. Default 64.
   */
  readonly maxConcurrentInvocations?: number;
  /**
   * New connections admitted per second, as API Gateway's account limit (500/s by default); past
   * it a handshake is refused 429 at once and the client retries. 0: unlimited.
   */
  readonly connectRatePerSecond?: number;
  /** The new-connection bucket's capacity. Default: a second's worth of the rate. */
  readonly connectBurst?: number;
  /**
   * Handshakes (authorizer + `$connect`) running at once; more wait in a queue of
   * `handshakeQueue` for at most `handshakeQueueWaitMs`, and past either are refused 503. One
   * process and one DynamoDB Local serve them all here: without a bound a wave of 1,500 queues
   * on the SDK's sockets and the kernel's accept queue until handshakes time out or are reset.
   * Defaults 32, 512, 5,000 ms.
   */
  readonly maxConcurrentHandshakes?: number;
  /**
   * The longest a handshake may take from `connectedAt` (the authorizer's and `$connect`'s Lambda
   * timeouts on AWS: shared/routes.ts HANDSHAKE_MAX_MS). Past it the handshake is refused 503, a
   * load refusal the client retries (PROTOCOL v1.1: a handshake refused for load answers 429 or 503,
   * never another 5xx — AWS would end the timed-out integration); the handler may still finish (a
   * row it writes late is the worker's to find gone). The delivery worker takes a 410 within it as
   * "still connecting": without the bound an overloaded local stage opened connections later than
   * that, and a worker deleted their rows.
   * Default: unbounded.
   */
  readonly handshakeTimeoutMs?: number;
  readonly handshakeQueue?: number;
  readonly handshakeQueueWaitMs?: number;
  /**
   * Says why the backend cannot serve now (DynamoDB Local is down and restarting), or undefined
   * when it can: handshakes are then refused 503 without running the authorizer.
   */
  readonly unavailable?: () => string | undefined;
  /** See ManagementInterceptor. Runs after `limits`, on calls they let through. */
  readonly interceptManagement?: ManagementInterceptor;
  /**
   * Benchmarks: told of every management call's answer (its HTTP status: 429 from `limits`
   * included), so calls and 429s can be counted per connection rather than only in total.
   */
  readonly onManagementAnswer?: (call: ManagementCall, status: number) => void;
  /**
   * AWS's @connections limits (latency, account token bucket, injected 410s), applied to every
   * management call, real and virtual connections alike. Unset: none, and no per-call cost.
   */
  readonly limits?: AwsLimits;
  /** Named in the port-in-use error. */
  readonly portEnvVar?: string;
  /**
   * Tests only: take `requestContext.identity.sourceIp` from the first address of the handshake's
   * `X-Forwarded-For` (when it is one), so one machine can stand for viewers on many networks. AWS
   * never does this: a client can put anything in that header. Default false.
   */
  readonly trustForwardedFor?: boolean;
  /** Lifecycle and failure lines only; nothing is logged per message or per post. */
  readonly log?: (line: string) => void;
}

export interface WsGatewayStats {
  connectionsAccepted: number;
  /** Every refused handshake, for whatever reason (the next two included). */
  connectionsRefused: number;
  /** Refused 429: over the new-connection rate. */
  handshakesThrottled: number;
  /** Refused 503: no handshake slot, a backend short of capacity, or the backend down. */
  handshakesUnavailable: number;
  /** Refused 503 (counted in handshakesUnavailable too): the authorizer and `$connect` together took longer than handshakeTimeoutMs. */
  handshakesTimedOut: number;
  connectionsOpen: number;
  disconnects: number;
  messagesIn: number;
  handlerErrors: number;
  postsOut: number;
  postsGone: number;
  postsTooLarge: number;
  gets: number;
  deletes: number;
  /** Calls answered by the interceptor instead of the gateway. */
  intercepted: number;
  /** Virtual connections now (connectionsOpen counts sockets only). */
  virtualConnectionsOpen: number;
  /** Of postsOut, those delivered to virtual connections. */
  virtualPostsOut: number;
  /** `limits`: calls answered 429 LimitExceededException by the token bucket. */
  throttled: number;
  /** `limits`: posts answered 410 by the goneRate draw (also counted in postsGone). */
  injectedGone: number;
  /** `limits`: calls held for latency, the sum and the largest of what they were held (ms). */
  delayedCalls: number;
  delayTotalMs: number;
  delayMaxMs: number;
}

/** Options of addVirtualConnections. */
export interface VirtualConnectionOptions {
  /** Each post's body (the received bytes, not a copy: copy it to keep it past the call), and `performance.now()` at delivery. */
  readonly onMessage?: (connectionId: string, data: Buffer, receivedAt: number) => void;
  /**
   * The gateway ended a virtual connection: DeleteConnection (`deleted`), an injected 410
   * (`gone`), or a post over 128 KiB (`tooLarge`; AWS closes such a socket with 1009). Not called
   * for removeVirtualConnections. No $disconnect runs for virtual connections: no $connect did.
   */
  readonly onClose?: (connectionId: string, cause: 'deleted' | 'gone' | 'tooLarge') => void;
}

export interface WsGateway {
  readonly port: number;
  /** `ws://host:port` — clients may use any path. */
  readonly url: string;
  /** `http://host:port`, what ApiGatewayManagementApiClient takes as `endpoint`. */
  readonly managementEndpoint: string;
  /** Open sockets; virtual connections are counted by virtualCount(). */
  connectionCount(): number;
  stats(): WsGatewayStats;
  /**
   * Connections without a socket that take posts like real ones (answers, limits, counters), so
   * a machine can simulate 100,000 viewers. The caller picks the ids (e.g. `v-000123`); an id
   * shaped like a gateway-issued one (15 base64 characters and `=`) is refused so the two can
   * never collide, as is one already in use. All or nothing: on a refused id none is added.
   */
  addVirtualConnections(ids: readonly string[], opts?: VirtualConnectionOptions): void;
  /** Drops them silently (unknown ids are ignored): the caller ending its own simulation. */
  removeVirtualConnections(ids: readonly string[]): void;
  virtualCount(): number;
  /** Closes every socket (each gets its $disconnect), stops listening. */
  close(): Promise<void>;
}

/** AWS's limit for one message, in both directions. */
/** API Gateway's WebSocket frame limit (shared/domain/protocol.ts: the contract's number). */
export const maxMessageBytes = MAX_MESSAGE_BYTES;

const tenMinutes = 10 * 60_000;
const twoHours = 2 * 60 * 60_000;
/** How long close() waits for clients to answer the close frame before cutting them off. */
const closeGraceMs = 2_000;

interface Identity {
  readonly sourceIp: string;
  readonly userAgent?: string;
}

type Authorizer = Readonly<Record<string, unknown>>;

/** What the management API needs from a connection. */
interface Connection {
  readonly id: string;
  readonly ws: WebSocket;
  readonly connectedAt: number;
  lastActiveAt: number;
  readonly identity: Identity;
  readonly authorizer: Authorizer | undefined;
  /** Tail of this connection's sequential work (messages, then $disconnect). */
  chain: Promise<void>;
  ended: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  lifeTimer: NodeJS.Timeout | undefined;
}

/**
 * One per addVirtualConnections call, shared by its ids: 100,000 virtual connections then cost
 * a Map entry each and nothing more (about 10 MB with their id strings).
 */
interface VirtualGroup {
  readonly onMessage: VirtualConnectionOptions['onMessage'];
  readonly onClose: VirtualConnectionOptions['onClose'];
  readonly connectedAt: number;
  /** GetConnection's answer, built once: a virtual connection never sends, so it never changes. */
  readonly info: string;
}

interface Outcome {
  readonly status: number;
  readonly errorType?: string;
  readonly body?: string;
}

export async function startWsGateway(opts: WsGatewayOptions): Promise<WsGateway> {
  const host = opts.host ?? '127.0.0.1';
  const stage = opts.stage ?? 'local';
  const apiId = opts.apiId ?? 'local';
  const idleTimeoutMs = opts.idleTimeoutMs ?? tenMinutes;
  const maxLifetimeMs = opts.maxLifetimeMs ?? twoHours;
  const concurrent = opts.concurrentMessages ?? false;
  const intercept = opts.interceptManagement;
  const limiter = opts.limits ? new Limiter(opts.limits) : undefined;
  const log = opts.log ?? ((line: string) => console.log(line));
  const routes = opts.routes;
  const methodArn = `arn:aws:execute-api:local:000000000000:${apiId}/${stage}/$connect`;
  const stagePrefix = `/${stage}/@connections/`;

  const connections = new Map<string, Connection>();
  const virtuals = new Map<string, VirtualGroup>();
  const handshakes = new Set<Duplex>();
  const pendingDisconnects = new Set<Promise<void>>();
  const invocations = new Slots(opts.maxConcurrentInvocations ?? 64);
  const admission = new HandshakeAdmission({
    ratePerSecond: opts.connectRatePerSecond ?? 500,
    ...(opts.connectBurst !== undefined ? { burst: opts.connectBurst } : {}),
    maxInFlight: opts.maxConcurrentHandshakes ?? 32,
    maxQueued: opts.handshakeQueue ?? 512,
    maxQueueWaitMs: opts.handshakeQueueWaitMs ?? 5_000,
  });
  const stats: WsGatewayStats = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    handshakesThrottled: 0,
    handshakesUnavailable: 0,
    handshakesTimedOut: 0,
    connectionsOpen: 0,
    disconnects: 0,
    messagesIn: 0,
    handlerErrors: 0,
    postsOut: 0,
    postsGone: 0,
    postsTooLarge: 0,
    gets: 0,
    deletes: 0,
    intercepted: 0,
    virtualConnectionsOpen: 0,
    virtualPostsOut: 0,
    throttled: 0,
    injectedGone: 0,
    delayedCalls: 0,
    delayTotalMs: 0,
    delayMaxMs: 0,
  };
  let closing = false;
  let domainName = '';

  // The subprotocol the $connect handler chose, handed from the async handshake to ws.
  const chosenProtocol = new WeakMap<http.IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: maxMessageBytes,
    perMessageDeflate: false,
    // AWS completes the handshake without a subprotocol unless $connect returns one; a client
    // that insists on one then fails, as a browser does against AWS.
    handleProtocols: (_protocols, req) => chosenProtocol.get(req) ?? false,
  });

  const server = http.createServer({ noDelay: true, keepAlive: true });
  // Fan-out keeps one pool of sockets busy; closing idle ones early only costs reconnects and
  // ECONNRESET retries in the SDK.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const invocationContext = (routeKey: string, route: { functionName?: string }) =>
    lambdaContext(route.functionName ?? `local-ws-${routeKey.replace(/^\$/, '')}`);

  // ---- handshake -------------------------------------------------------------------------------

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    handshakes.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => handshakes.delete(socket));
    admit(req, socket, head).catch((err: unknown) => {
      log(`ws: handshake failed: ${describe(err)}`);
      refuse(socket, 500, { message: 'Internal server error' });
    });
  });

  /** A 429 or 503 refusal: the load kind, which clients retry with backoff. */
  function refuseForLoad(socket: Duplex, status: 429 | 503): void {
    stats.connectionsRefused += 1;
    if (status === 429) {
      stats.handshakesThrottled += 1;
      return refuse(socket, 429, { message: 'Too Many Requests' }, 'LimitExceededException');
    }
    stats.handshakesUnavailable += 1;
    refuse(socket, 503, { message: 'Service Unavailable' });
  }

  async function admit(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (closing) return refuse(socket, 503, { message: 'Service Unavailable' });
    if (!isValidUpgrade(req)) return refuse(socket, 400, { message: 'Bad Request' });
    if (opts.unavailable?.() !== undefined) return refuseForLoad(socket, 503);
    const pending = admission.admit();
    const verdict = pending instanceof Promise ? await pending : pending;
    if (!verdict.admitted) return refuseForLoad(socket, verdict.status);
    try {
      // The client may have given up while it waited for a slot.
      if (closing || socket.destroyed) return refuse(socket, 503, { message: 'Service Unavailable' });
      await handshake(req, socket, head);
    } finally {
      verdict.release();
    }
  }

  async function handshake(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const connectedAt = Date.now();
    const connectionId = gatewayId();
    const identity = identityOf(req, opts.trustForwardedFor === true);
    const { headers, multiValueHeaders } = eventHeaders(req, server);
    const { queryStringParameters, multiValueQueryStringParameters } = eventQuery(req.url ?? '/');
    // The authorizer and $connect see the same HTTP request, hence the same request id.
    const requestId = gatewayId();
    const connectContext = () => {
      return {
        routeKey: '$connect',
        eventType: 'CONNECT',
        extendedRequestId: requestId,
        requestTime: gatewayTime(connectedAt),
        messageDirection: 'IN',
        stage,
        connectedAt,
        requestTimeEpoch: Date.now(),
        identity: { ...identity },
        requestId,
        domainName,
        connectionId,
        apiId,
      };
    };

    // Each step gets what is left of the handshake's time (see handshakeTimeoutMs).
    const inTime = <T>(step: Promise<T>): Promise<T | typeof TIMED_OUT> => {
      if (opts.handshakeTimeoutMs === undefined) return step;
      const left = connectedAt + opts.handshakeTimeoutMs - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<typeof TIMED_OUT>(
        (resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, left))),
      );
      return Promise.race([step, late]).finally(() => clearTimeout(timer));
    };
    const timedOut = () => {
      stats.handshakesTimedOut += 1;
      log(`ws: handshake ${connectionId} took over ${opts.handshakeTimeoutMs} ms, refusing it 503`);
      return refuseForLoad(socket, 503);
    };

    let authorizer: Authorizer | undefined;
    if (opts.authorizer) {
      const verdict = await inTime(
        authorize(opts.authorizer, req, {
          type: 'REQUEST',
          methodArn,
          headers,
          multiValueHeaders,
          queryStringParameters,
          multiValueQueryStringParameters,
          stageVariables: {},
          requestContext: connectContext(),
        }),
      );
      if (verdict === TIMED_OUT) return timedOut();
      if ('refusal' in verdict) {
        if (verdict.refusal.status === 503) return refuseForLoad(socket, 503);
        stats.connectionsRefused += 1;
        return refuse(socket, verdict.refusal.status, { message: verdict.refusal.message }, verdict.refusal.errorType);
      }
      authorizer = verdict.authorizer;
    }

    const connect = routes.get('$connect');
    if (connect) {
      const event = {
        headers,
        multiValueHeaders,
        queryStringParameters,
        multiValueQueryStringParameters,
        requestContext: { ...connectContext(), ...(authorizer && { authorizer: { ...authorizer } }) },
        isBase64Encoded: false,
      };
      let result: unknown;
      try {
        result = await inTime(connect.invoke(event, invocationContext('$connect', connect)));
      } catch (err) {
        stats.handlerErrors += 1;
        // DynamoDB throttled, timed out or is down: a load refusal the client retries, not a bug.
        if (isCapacityError(err) || opts.unavailable?.() !== undefined) return refuseForLoad(socket, 503);
        stats.connectionsRefused += 1;
        log(`ws: $connect threw, refusing ${connectionId}: ${describe(err)}`);
        return refuse(socket, 500, { message: 'Internal server error' });
      }
      if (result === TIMED_OUT) return timedOut();
      const status = statusCodeOf(result);
      if (status !== undefined && (status < 200 || status > 299)) {
        stats.connectionsRefused += 1;
        const body = isRecord(result) && typeof result.body === 'string' ? result.body : '';
        return refuse(socket, status, body);
      }
      const protocol = isRecord(result) ? headerValue(result.headers, 'sec-websocket-protocol') : undefined;
      if (protocol) chosenProtocol.set(req, protocol);
    }

    let accepted = false;
    if (!closing && !socket.destroyed) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        handshakes.delete(socket);
        register(ws, connectionId, connectedAt, identity, authorizer);
      });
    }
    if (!accepted) {
      // The client left (or we are shutting down) after $connect said yes: like AWS, tell
      // $disconnect so whatever $connect stored gets cleaned up.
      socket.destroy();
      track(invokeDisconnect({ id: connectionId, connectedAt, identity, authorizer }, 1006, ''));
    }
  }

  type Verdict = { authorizer: Authorizer } | { refusal: ManagementRefusal };

  async function authorize(auth: WsAuthorizer, req: http.IncomingMessage, event: object): Promise<Verdict> {
    const unauthorized = { refusal: { status: 401, errorType: 'UnauthorizedException', message: 'Unauthorized' } };
    const forbidden = { refusal: { status: 403, errorType: 'AccessDeniedException', message: 'Forbidden' } };
    const broken = {
      refusal: { status: 500, errorType: 'AuthorizerConfigurationException', message: 'Internal server error' },
    };
    const unavailable = {
      refusal: { status: 503, errorType: 'ServiceUnavailableException', message: 'Service Unavailable' },
    };
    // AWS refuses without invoking the authorizer when an identity source is absent or empty.
    if (!auth.identitySource.every((source) => identityPresent(source, req))) return unauthorized;

    const started = Date.now();
    let result: unknown;
    try {
      result = await auth.invoke(event, lambdaContext(auth.functionName ?? 'local-ws-authorizer'));
    } catch (err) {
      if (err instanceof Error && err.message === 'Unauthorized') return unauthorized;
      stats.handlerErrors += 1;
      if (isCapacityError(err) || opts.unavailable?.() !== undefined) return unavailable;
      log(`ws: authorizer threw: ${describe(err)}`);
      return broken;
    }
    const integrationLatency = Date.now() - started;
    if (!isRecord(result) || typeof result.principalId !== 'string' || !isRecord(result.policyDocument)) {
      log('ws: authorizer returned no principalId or policyDocument');
      return broken;
    }
    const context = result.context ?? {};
    if (!isRecord(context)) return broken;
    const flat: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(context)) {
      // AWS accepts only primitives in the context and hands them to integrations as strings;
      // stringifying here keeps local handlers from relying on a type they will not get deployed.
      if (value === null || value === undefined) continue;
      if (typeof value === 'object' || typeof value === 'function') {
        log(`ws: authorizer context key ${key} is not a string, number or boolean`);
        return broken;
      }
      flat[key] = String(value);
    }
    switch (evaluatePolicy(result.policyDocument, methodArn)) {
      case 'allow':
        return { authorizer: { ...flat, principalId: result.principalId, integrationLatency } };
      case 'deny':
        return forbidden;
      case 'invalid':
        log('ws: authorizer returned a malformed policyDocument');
        return broken;
    }
  }

  // ---- connections -----------------------------------------------------------------------------

  function register(
    ws: WebSocket,
    id: string,
    connectedAt: number,
    identity: Identity,
    authorizer: Authorizer | undefined,
  ): void {
    const conn: Connection = {
      id,
      ws,
      connectedAt,
      lastActiveAt: connectedAt,
      identity,
      authorizer,
      chain: Promise.resolve(),
      ended: false,
      idleTimer: undefined,
      lifeTimer: undefined,
    };
    connections.set(id, conn);
    stats.connectionsAccepted += 1;
    stats.connectionsOpen = connections.size;
    conn.idleTimer = setTimeout(() => end(conn, 1001, 'Going away', true), idleTimeoutMs).unref();
    conn.lifeTimer = setTimeout(() => end(conn, 1001, 'Going away', true), maxLifetimeMs).unref();

    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Frames that arrive while the close handshake runs are not routed: the connection is gone.
      if (conn.ended) return;
      conn.lastActiveAt = Date.now();
      conn.idleTimer?.refresh();
      stats.messagesIn += 1;
      const buffer = toBuffer(data);
      const body = isBinary ? buffer.toString('base64') : buffer.toString('utf8');
      if (concurrent) void onMessage(conn, body, isBinary);
      else conn.chain = conn.chain.then(() => onMessage(conn, body, isBinary)).catch(chainFailure);
    });
    // ws follows every error (e.g. 1009 for an oversize message) with 'close'; $disconnect runs there.
    ws.on('error', () => {});
    ws.on('close', (code: number, reason: Buffer) => end(conn, code, reason.toString('utf8'), false));
  }

  /** Idempotent: the first caller decides the status code and reason $disconnect sees. */
  function end(conn: Connection, code: number, reason: string, byServer: boolean): void {
    if (conn.ended) return;
    conn.ended = true;
    // Unregister at once so the management API answers 410 from now on, as AWS does.
    connections.delete(conn.id);
    stats.connectionsOpen = connections.size;
    clearTimeout(conn.idleTimer);
    clearTimeout(conn.lifeTimer);
    if (byServer && conn.ws.readyState === WebSocket.OPEN) conn.ws.close(code, reason);
    if (concurrent) track(invokeDisconnect(conn, code, reason));
    else track((conn.chain = conn.chain.then(() => invokeDisconnect(conn, code, reason))));
  }

  function chainFailure(err: unknown): void {
    log(`ws: message processing failed: ${describe(err)}`);
  }

  function track(work: Promise<void>): void {
    pendingDisconnects.add(work);
    void work.finally(() => pendingDisconnects.delete(work));
  }

  /** The requestContext API Gateway gives every event of an accepted connection. */
  function requestContext(
    conn: Pick<Connection, 'id' | 'connectedAt' | 'identity' | 'authorizer'>,
    routeKey: string,
    eventType: 'MESSAGE' | 'DISCONNECT',
    requestId: string,
  ) {
    const now = Date.now();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: gatewayTime(now),
      messageDirection: 'IN',
      stage,
      connectedAt: conn.connectedAt,
      requestTimeEpoch: now,
      identity: { ...conn.identity },
      requestId,
      domainName,
      connectionId: conn.id,
      apiId,
      ...(conn.authorizer && { authorizer: { ...conn.authorizer } }),
    };
  }

  /** Best effort, like AWS: a failing $disconnect is logged and forgotten. */
  async function invokeDisconnect(
    conn: Pick<Connection, 'id' | 'connectedAt' | 'identity' | 'authorizer'>,
    code: number,
    reason: string,
  ): Promise<void> {
    stats.disconnects += 1;
    const route = routes.get('$disconnect');
    if (!route) return;
    const event = {
      headers: { Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' },
      multiValueHeaders: { Host: [domainName], 'x-api-key': [''], 'X-Forwarded-For': [''], 'x-restapi': [''] },
      requestContext: {
        ...requestContext(conn, '$disconnect', 'DISCONNECT', gatewayId()),
        disconnectStatusCode: code,
        disconnectReason: reason,
      },
      isBase64Encoded: false,
    };
    try {
      await route.invoke(event, invocationContext('$disconnect', route));
    } catch (err) {
      stats.handlerErrors += 1;
      log(`ws: $disconnect threw for ${conn.id}: ${describe(err)}`);
    }
  }

  // ---- messages --------------------------------------------------------------------------------

  function selectRoute(body: string, isBinary: boolean): string | undefined {
    // `$request.body.action`: only a JSON object with a string action naming a configured
    // non-$ route selects it; everything else falls to $default.
    if (!isBinary && body.charCodeAt(skipSpace(body)) === 0x7b /* { */) {
      try {
        const parsed: unknown = JSON.parse(body);
        const action = isRecord(parsed) ? parsed.action : undefined;
        if (typeof action === 'string' && !action.startsWith('$') && routes.has(action)) return action;
      } catch {
        // not JSON: $default
      }
    }
    return routes.has('$default') ? '$default' : undefined;
  }

  async function onMessage(conn: Connection, body: string, isBinary: boolean): Promise<void> {
    const requestId = gatewayId();
    const routeKey = selectRoute(body, isBinary);
    const route = routeKey === undefined ? undefined : routes.get(routeKey);
    if (routeKey === undefined || !route) {
      sendText(conn, JSON.stringify({ message: 'Forbidden', connectionId: conn.id, requestId }));
      return;
    }
    const event = {
      requestContext: { ...requestContext(conn, routeKey, 'MESSAGE', requestId), messageId: gatewayId() },
      body,
      isBase64Encoded: isBinary,
    };
    let result: unknown;
    const slot = invocations.acquire();
    if (slot) await slot;
    try {
      result = await route.invoke(event, invocationContext(routeKey, route));
    } catch (err) {
      stats.handlerErrors += 1;
      log(`ws: route ${routeKey} threw for ${conn.id}: ${describe(err)}`);
      sendText(conn, JSON.stringify({ message: 'Internal server error', connectionId: conn.id, requestId }));
      return;
    } finally {
      invocations.release();
    }
    if (route.returnResponse && isRecord(result) && typeof result.body === 'string' && result.body.length > 0) {
      sendText(conn, result.body);
    }
  }

  function sendText(conn: Connection, text: string | Buffer): void {
    // A socket that closed meanwhile drops the message, as AWS does.
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(text, { binary: false });
  }

  // ---- management API --------------------------------------------------------------------------

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const connectionId = managementTarget(req.url ?? '/');
    if (connectionId === undefined) {
      req.resume();
      return respond(res, { status: 404, errorType: 'NotFoundException', body: '{"message":"Not Found"}' });
    }
    if (connectionId === null) {
      req.resume();
      return respond(res, {
        status: 400,
        errorType: 'BadRequestException',
        body: '{"message":"Invalid connectionId"}',
      });
    }
    switch (req.method) {
      case 'POST':
        return readBody(req, (data, bytes) => {
          void manage({ op: 'post', connectionId, bytes }, data).then(
            (outcome) => respond(res, outcome),
            (err: unknown) => failed(res, err),
          );
        });
      case 'GET':
      case 'DELETE':
        req.resume();
        void manage({ op: req.method === 'GET' ? 'get' : 'delete', connectionId, bytes: 0 }, undefined).then(
          (outcome) => respond(res, outcome),
          (err: unknown) => failed(res, err),
        );
        return;
      default:
        req.resume();
        res.setHeader('allow', 'POST, GET, DELETE');
        return respond(res, {
          status: 405,
          errorType: 'MethodNotAllowedException',
          body: '{"message":"Method Not Allowed"}',
        });
    }
  });

  /** The connection id in `/@connections/{id}` or `/{stage}/@connections/{id}`; null if undecodable, undefined if not such a path. */
  function managementTarget(url: string): string | null | undefined {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let raw: string;
    if (path.startsWith('/@connections/')) raw = path.slice('/@connections/'.length);
    else if (path.startsWith(stagePrefix)) raw = path.slice(stagePrefix.length);
    else return undefined;
    if (raw.length === 0 || raw.includes('/')) return undefined;
    try {
      return decodeURIComponent(raw);
    } catch {
      return null;
    }
  }

  /**
   * Every management call goes through here, HTTP-free, so limit imitation (latency, 429s,
   * injected 410s) applies to POST, GET and DELETE, to real and virtual connections alike.
   */
  const onAnswer = opts.onManagementAnswer;
  async function manage(call: ManagementCall, data: Buffer | undefined): Promise<Outcome> {
    if (!onAnswer) return answer(call, data);
    const outcome = await answer(call, data);
    onAnswer(call, outcome.status);
    return outcome;
  }

  async function answer(call: ManagementCall, data: Buffer | undefined): Promise<Outcome> {
    // Without limits this branch is the whole cost.
    if (limiter !== undefined) {
      // Decided on arrival (see Limiter), acted on at answer time: the delivery, the removal of
      // a connection drawn gone, and the answer all happen once the latency has passed.
      const verdict = limiter.arrive(call.op === 'post');
      const delay = limiter.delayMs();
      if (delay > 0) {
        stats.delayedCalls += 1;
        stats.delayTotalMs += delay;
        if (delay > stats.delayMaxMs) stats.delayMaxMs = delay;
        await waitUntil(performance.now() + delay);
      }
      if (verdict === 'throttled') {
        stats.throttled += 1;
        return throttled;
      }
      if (verdict === 'gone') {
        stats.injectedGone += 1;
        stats.postsGone += 1;
        drop(call.connectionId);
        return gone;
      }
    }
    if (intercept) {
      const refusal = await intercept(call);
      if (refusal) {
        stats.intercepted += 1;
        if (refusal.status === 410) stats.postsGone += 1;
        return {
          status: refusal.status,
          errorType: refusal.errorType,
          body: JSON.stringify({ message: refusal.message }),
        };
      }
    }
    const conn = connections.get(call.connectionId);
    if (!conn || conn.ended || conn.ws.readyState !== WebSocket.OPEN) {
      const virtual = virtuals.get(call.connectionId);
      if (virtual !== undefined) return manageVirtual(call, data, virtual);
      if (call.op === 'post') stats.postsGone += 1;
      return gone;
    }
    switch (call.op) {
      case 'post':
        if (call.bytes > maxMessageBytes) {
          stats.postsTooLarge += 1;
          end(conn, 1009, 'Message too big', true);
          return tooLarge;
        }
        // The posted bytes go out untouched as one text frame, as AWS relays them.
        conn.ws.send(data ?? emptyBuffer, { binary: false });
        stats.postsOut += 1;
        return ok;
      case 'get':
        stats.gets += 1;
        // restJson1 wire names (lower camel case, ISO-8601 timestamps): what the SDK parses.
        return {
          status: 200,
          body: JSON.stringify({
            connectedAt: new Date(conn.connectedAt).toISOString(),
            identity: { sourceIp: conn.identity.sourceIp, userAgent: conn.identity.userAgent ?? '' },
            lastActiveAt: new Date(conn.lastActiveAt).toISOString(),
          }),
        };
      case 'delete':
        stats.deletes += 1;
        end(conn, 1000, '', true);
        return { status: 204 };
    }
  }

  function manageVirtual(call: ManagementCall, data: Buffer | undefined, virtual: VirtualGroup): Outcome {
    switch (call.op) {
      case 'post':
        if (call.bytes > maxMessageBytes) {
          stats.postsTooLarge += 1;
          endVirtual(call.connectionId, virtual, 'tooLarge');
          return tooLarge;
        }
        stats.postsOut += 1;
        stats.virtualPostsOut += 1;
        if (virtual.onMessage !== undefined) {
          try {
            virtual.onMessage(call.connectionId, data ?? emptyBuffer, performance.now());
          } catch (err) {
            // The simulation's own bug: the post was delivered all the same.
            log(`ws: onMessage threw for virtual ${call.connectionId}: ${describe(err)}`);
          }
        }
        return ok;
      case 'get':
        stats.gets += 1;
        return { status: 200, body: virtual.info };
      case 'delete':
        stats.deletes += 1;
        endVirtual(call.connectionId, virtual, 'deleted');
        return { status: 204 };
    }
  }

  function endVirtual(id: string, virtual: VirtualGroup, cause: 'deleted' | 'gone' | 'tooLarge'): void {
    virtuals.delete(id);
    if (virtual.onClose === undefined) return;
    try {
      virtual.onClose(id, cause);
    } catch (err) {
      log(`ws: onClose threw for virtual ${id}: ${describe(err)}`);
    }
  }

  /** An injected 410 makes the connection really gone, as when a phone drops. */
  function drop(id: string): void {
    const conn = connections.get(id);
    if (conn !== undefined) return end(conn, 1001, 'Going away', true);
    const virtual = virtuals.get(id);
    if (virtual !== undefined) endVirtual(id, virtual, 'gone');
  }

  // ---- virtual connections ---------------------------------------------------------------------

  function addVirtualConnections(ids: readonly string[], vopts: VirtualConnectionOptions = {}): void {
    if (closing) throw new Error('the gateway is closed');
    const connectedAt = Date.now();
    const at = new Date(connectedAt).toISOString();
    const group: VirtualGroup = {
      onMessage: vopts.onMessage,
      onClose: vopts.onClose,
      connectedAt,
      info: JSON.stringify({
        connectedAt: at,
        // A documentation address (RFC 5737): plausible, and obviously not a real viewer.
        identity: { sourceIp: '192.0.2.1', userAgent: 'livecast-virtual' },
        lastActiveAt: at,
      }),
    };
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as string;
      const problem =
        typeof id !== 'string' || id.length === 0
          ? 'is empty'
          : gatewayIdShape.test(id)
            ? 'has the shape of a gateway-issued id'
            : connections.has(id) || virtuals.has(id)
              ? 'is already in use'
              : undefined;
      if (problem !== undefined) {
        // All or nothing: a half-added batch would leave the caller guessing which ids exist.
        for (let j = 0; j < i; j += 1) virtuals.delete(ids[j] as string);
        throw new Error(`virtual connection id ${JSON.stringify(id)} ${problem}`);
      }
      virtuals.set(id, group);
    }
  }

  function removeVirtualConnections(ids: readonly string[]): void {
    for (const id of ids) virtuals.delete(id);
  }

  function respond(res: http.ServerResponse, outcome: Outcome): void {
    // Built by hand, not spread from a template: this runs once per post of every fan-out.
    const body = outcome.body ?? '';
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json',
      'content-length': body.length === 0 ? 0 : Buffer.byteLength(body),
      'x-amzn-RequestId': randomUUID(),
    };
    if (outcome.errorType) headers['x-amzn-ErrorType'] = outcome.errorType;
    res.writeHead(outcome.status, headers);
    res.end(body);
  }

  function failed(res: http.ServerResponse, err: unknown): void {
    log(`ws: management call failed: ${describe(err)}`);
    if (!res.headersSent)
      respond(res, {
        status: 500,
        errorType: 'InternalServerErrorException',
        body: '{"message":"Internal server error"}',
      });
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  // A deep accept queue (the kernel caps it at net.core.somaxconn): Node's default of 511 resets
  // connections of a wave that arrive while the event loop is busy, before admission can answer them.
  const port = await listen(server, opts.port, host, opts.portEnvVar ?? 'WS_PORT', 'WebSocket gateway', 4096);
  if (limiter !== undefined && opts.limits !== undefined)
    log(`ws: imitating AWS limits on @connections: ${describeLimits(opts.limits, limiter.seed)}`);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  domainName = authority;

  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    admission.refuseQueued();
    for (const socket of handshakes) socket.destroy();
    const sockets = [...connections.values()].map((conn) => conn.ws);
    for (const conn of [...connections.values()]) end(conn, 1001, 'Going away', true);
    await Promise.all([...pendingDisconnects]);
    // Give clients a moment to answer the close frame so they see a clean close, then cut.
    await Promise.all(sockets.map((ws) => closedOrCut(ws)));
    virtuals.clear();
    wss.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return {
    port,
    url: `ws://${authority}`,
    managementEndpoint: `http://${authority}`,
    connectionCount: () => connections.size,
    stats: () => ({ ...stats, connectionsOpen: connections.size, virtualConnectionsOpen: virtuals.size }),
    addVirtualConnections,
    removeVirtualConnections,
    virtualCount: () => virtuals.size,
    close,
  };
}

// ---- helpers ---------------------------------------------------------------------------------

const emptyBuffer = Buffer.alloc(0);
const ok: Outcome = { status: 200 };
const gone: Outcome = { status: 410, errorType: 'GoneException', body: '{"message":"The connection is gone."}' };
const throttled: Outcome = { status: 429, errorType: 'LimitExceededException', body: '{"message":"Rate exceeded"}' };
/** What gatewayId() issues; virtual ids must not look like it, so they can never collide with a real one. */
const gatewayIdShape = /^[A-Za-z0-9+/]{15}=$/;
const tooLarge: Outcome = {
  status: 413,
  errorType: 'PayloadTooLargeException',
  body: `{"message":"Message too long: the limit is ${maxMessageBytes} bytes."}`,
};

function closedOrCut(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), closeGraceMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function readBody(req: http.IncomingMessage, done: (data: Buffer, bytes: number) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    // Past the limit only the size matters: the post will be refused.
    if (bytes <= maxMessageBytes) chunks.push(chunk);
  });
  req.on('end', () => {
    const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    done(data, bytes);
  });
}

function refuse(socket: Duplex, status: number, body: string | object, errorType?: string): void {
  if (socket.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const head =
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(text)}\r\n` +
    `x-amzn-RequestId: ${randomUUID()}\r\n` +
    (errorType ? `x-amzn-ErrorType: ${errorType}\r\n` : '') +
    'Connection: close\r\n\r\n';
  socket.once('finish', () => socket.destroy());
  socket.end(head + text);
}

function isValidUpgrade(req: http.IncomingMessage): boolean {
  const version = req.headers['sec-websocket-version'];
  return (
    req.method === 'GET' &&
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    /^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '') &&
    (version === '13' || version === '8')
  );
}

function identityOf(req: http.IncomingMessage, trustForwardedFor = false): Identity {
  const sourceIp =
    (trustForwardedFor ? forwardedFor(req) : undefined) ??
    (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const userAgent = req.headers['user-agent'];
  return userAgent === undefined ? { sourceIp } : { sourceIp, userAgent };
}

/** REST-style (v1) headers: names as the client sent them, last value wins; all values in the multi form. */
function eventHeaders(req: http.IncomingMessage, server: http.Server) {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const address = server.address();
  const forwarded: Record<string, string> = {
    'X-Forwarded-For': identityOf(req).sourceIp,
    'X-Forwarded-Port': String(typeof address === 'object' && address ? address.port : ''),
    'X-Forwarded-Proto': 'http',
  };
  for (const [name, value] of Object.entries(forwarded)) {
    if (req.headers[name.toLowerCase()] !== undefined) continue;
    headers[name] = value;
    multiValueHeaders[name] = [value];
  }
  return { headers, multiValueHeaders };
}

function eventQuery(url: string) {
  const q = url.indexOf('?');
  if (q === -1 || q === url.length - 1) {
    return { queryStringParameters: null, multiValueQueryStringParameters: null };
  }
  const queryStringParameters: Record<string, string> = {};
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [name, value] of new URLSearchParams(url.slice(q + 1))) {
    queryStringParameters[name] = value;
    (multiValueQueryStringParameters[name] ??= []).push(value);
  }
  return { queryStringParameters, multiValueQueryStringParameters };
}

function identityPresent(source: string, req: http.IncomingMessage): boolean {
  const query = 'route.request.querystring.';
  const header = 'route.request.header.';
  if (source.startsWith(query)) {
    const q = (req.url ?? '').indexOf('?');
    const value = q === -1 ? null : new URLSearchParams((req.url ?? '').slice(q + 1)).get(source.slice(query.length));
    return value !== null && value !== '';
  }
  if (source.startsWith(header)) {
    const value = req.headers[source.slice(header.length).toLowerCase()];
    return value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0);
  }
  // Stage variables and context sources are not imitated; they never refuse.
  return true;
}

/** IAM-style evaluation of an authorizer policy for one ARN: an explicit Deny wins, an Allow is needed. */
function evaluatePolicy(policy: Record<string, unknown>, arn: string): 'allow' | 'deny' | 'invalid' {
  const statements = Array.isArray(policy.Statement)
    ? policy.Statement
    : isRecord(policy.Statement)
      ? [policy.Statement]
      : undefined;
  if (!statements) return 'invalid';
  let allowed = false;
  for (const statement of statements) {
    if (!isRecord(statement)) return 'invalid';
    const actions = listOf(statement.Action);
    const resources = listOf(statement.Resource);
    const applies =
      actions.some((action) => wildcardMatch(action, 'execute-api:Invoke')) &&
      resources.some((resource) => wildcardMatch(resource, arn));
    if (!applies) continue;
    if (statement.Effect === 'Deny') return 'deny';
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed ? 'allow' : 'deny';
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function wildcardMatch(pattern: string, value: string): boolean {
  if (pattern === '*' || pattern === value) return true;
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );
  return regex.test(value);
}

function statusCodeOf(result: unknown): number | undefined {
  if (!isRecord(result) || result.statusCode === undefined) return undefined;
  const status = Number(result.statusCode);
  return Number.isInteger(status) ? status : 500;
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!isRecord(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && (typeof value === 'string' || typeof value === 'number')) return String(value);
  }
  return undefined;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function skipSpace(text: string): number {
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i += 1;
  return i;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
