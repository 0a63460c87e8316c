// The gateway's open sockets: registered after the handshake, each frame routed to its handler one
// at a time in order, the route's response sent back, timers for AWS's idle and lifetime limits,
// and `$disconnect` once, whoever ends the connection.
import { WebSocket, type RawData } from 'ws';
import { gatewayId, lambdaContext } from '../lambda-context';
import { Slots } from '../../shared/domain/slots';
import type { Authorizer, ConnectionFacts, EventShapes, Identity } from './events';
import { selectRoute } from './route-selection';
import { type Log, type WsGatewayStats, type WsRoute, describe, isRecord } from './types';

/** What the management API needs from a connection. */
export interface Connection extends ConnectionFacts {
  readonly ws: WebSocket;
  lastActiveAt: number;
  /** Tail of this connection's sequential work (messages, then $disconnect). */
  chain: Promise<void>;
  ended: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  lifeTimer: NodeJS.Timeout | undefined;
}

export interface ConnectionsOptions {
  readonly routes: ReadonlyMap<string, WsRoute>;
  readonly events: EventShapes;
  readonly stats: WsGatewayStats;
  readonly log: Log;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number;
}

/**
 * Message routes' handlers running at once, across connections; more wait their turn. On AWS
 * each invocation has an environment (and SDK connection pool) of its own; here one process
 * hosts them all, and a storm of thousands of messages at once would queue on its connection
 * pools until their timeouts.
 */
const maxConcurrentInvocations = 64;
/** How long close() waits for clients to answer the close frame before cutting them off. */
const closeGraceMs = 2_000;

export const invocationContext = (routeKey: string) => lambdaContext(`local-ws-${routeKey.replace(/^\$/, '')}`);

export class Connections {
  private readonly open = new Map<string, Connection>();
  private readonly pendingDisconnects = new Set<Promise<void>>();
  private readonly invocations = new Slots(maxConcurrentInvocations);

  constructor(private readonly opts: ConnectionsOptions) {}

  get size(): number {
    return this.open.size;
  }

  get(id: string): Connection | undefined {
    return this.open.get(id);
  }

  register(
    ws: WebSocket,
    id: string,
    connectedAt: number,
    identity: Identity,
    authorizer: Authorizer | undefined,
  ): void {
    const { stats, idleTimeoutMs, maxLifetimeMs } = this.opts;
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
    this.open.set(id, conn);
    stats.connectionsAccepted += 1;
    stats.connectionsOpen = this.open.size;
    conn.idleTimer = setTimeout(() => this.end(conn, 1001, 'Going away', true), idleTimeoutMs).unref();
    conn.lifeTimer = setTimeout(() => this.end(conn, 1001, 'Going away', true), maxLifetimeMs).unref();

    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Frames that arrive while the close handshake runs are not routed: the connection is gone.
      if (conn.ended) return;
      conn.lastActiveAt = Date.now();
      conn.idleTimer?.refresh();
      stats.messagesIn += 1;
      const buffer = toBuffer(data);
      const body = isBinary ? buffer.toString('base64') : buffer.toString('utf8');
      // AWS invokes a connection's messages concurrently, so handlers may see them out of order;
      // locally they run one at a time, in order, so runs and tests are deterministic.
      conn.chain = conn.chain.then(() => this.onMessage(conn, body, isBinary)).catch(this.chainFailure);
    });
    // ws follows every error (e.g. 1009 for an oversize message) with 'close'; $disconnect runs there.
    ws.on('error', () => {});
    ws.on('close', (code: number, reason: Buffer) => this.end(conn, code, reason.toString('utf8'), false));
  }

  /** Idempotent: the first caller decides the status code and reason $disconnect sees. */
  end(conn: Connection, code: number, reason: string, byServer: boolean): void {
    if (conn.ended) return;
    conn.ended = true;
    // Unregister at once so the management API answers 410 from now on, as AWS does.
    this.open.delete(conn.id);
    this.opts.stats.connectionsOpen = this.open.size;
    clearTimeout(conn.idleTimer);
    clearTimeout(conn.lifeTimer);
    if (byServer && conn.ws.readyState === WebSocket.OPEN) conn.ws.close(code, reason);
    this.track((conn.chain = conn.chain.then(() => this.invokeDisconnect(conn, code, reason))));
  }

  /**
   * The client left (or we are shutting down) after `$connect` said yes: like AWS, tell
   * `$disconnect` so whatever `$connect` stored gets cleaned up.
   */
  abandoned(facts: ConnectionFacts): void {
    this.track(this.invokeDisconnect(facts, 1006, ''));
  }

  /** Ends every socket (each gets its $disconnect), then waits for the clients' close frames. */
  async closeAll(): Promise<void> {
    const sockets = [...this.open.values()].map((conn) => conn.ws);
    for (const conn of [...this.open.values()]) this.end(conn, 1001, 'Going away', true);
    await Promise.all([...this.pendingDisconnects]);
    // Give clients a moment to answer the close frame so they see a clean close, then cut.
    await Promise.all(sockets.map((ws) => closedOrCut(ws)));
  }

  private readonly chainFailure = (err: unknown): void => {
    this.opts.log(`ws: message processing failed: ${describe(err)}`);
  };

  private track(work: Promise<void>): void {
    this.pendingDisconnects.add(work);
    void work.finally(() => this.pendingDisconnects.delete(work));
  }

  /** Best effort, like AWS: a failing $disconnect is logged and forgotten. */
  private async invokeDisconnect(conn: ConnectionFacts, code: number, reason: string): Promise<void> {
    const { stats, routes, events, log } = this.opts;
    stats.disconnects += 1;
    const route = routes.get('$disconnect');
    if (!route) return;
    try {
      await route.invoke(events.disconnect(conn, code, reason), invocationContext('$disconnect'));
    } catch (err) {
      stats.handlerErrors += 1;
      log(`ws: $disconnect threw for ${conn.id}: ${describe(err)}`);
    }
  }

  private async onMessage(conn: Connection, body: string, isBinary: boolean): Promise<void> {
    const { stats, routes, events, log } = this.opts;
    const requestId = gatewayId();
    const routeKey = selectRoute(routes, body, isBinary);
    const route = routeKey === undefined ? undefined : routes.get(routeKey);
    if (routeKey === undefined || !route) {
      sendText(conn, JSON.stringify({ message: 'Forbidden', connectionId: conn.id, requestId }));
      return;
    }
    const event = events.message(conn, routeKey, requestId, body, isBinary);
    let result: unknown;
    const slot = this.invocations.acquire();
    if (slot) await slot;
    try {
      result = await route.invoke(event, invocationContext(routeKey));
    } catch (err) {
      stats.handlerErrors += 1;
      log(`ws: route ${routeKey} threw for ${conn.id}: ${describe(err)}`);
      sendText(conn, JSON.stringify({ message: 'Internal server error', connectionId: conn.id, requestId }));
      return;
    } finally {
      this.invocations.release();
    }
    if (route.returnResponse && isRecord(result) && typeof result.body === 'string' && result.body.length > 0) {
      sendText(conn, result.body);
    }
  }
}

function sendText(conn: Connection, text: string | Buffer): void {
  // A socket that closed meanwhile drops the message, as AWS does.
  if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(text, { binary: false });
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

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
