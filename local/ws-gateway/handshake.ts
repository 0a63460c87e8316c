// The WebSocket handshake as API Gateway runs it: admission (the new-connection rate, 429; the
// bound on handshakes in flight, 503), the `$connect` authorizer, the `$connect` route deciding
// the answer and the subprotocol, and a time limit; only then is the socket upgraded.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { type HandshakeAdmission, isCapacityError } from '../handshake-admission';
import { gatewayId } from '../lambda-context';
import { authorize } from './authorizer';
import { type Connections, invocationContext } from './connections';
import { type Authorizer, type EventShapes, METHOD_ARN, handshakeRequest, identityOf } from './events';
import { type Log, type WsGatewayOptions, type WsGatewayStats, describe, isRecord, maxMessageBytes } from './types';

/** A handshake step that ran past the handshake's time (see handshakeTimeoutMs). */
const TIMED_OUT = Symbol('timed out');

export interface HandshakesOptions {
  readonly settings: Pick<
    WsGatewayOptions,
    'authorizer' | 'routes' | 'unavailable' | 'handshakeTimeoutMs' | 'trustForwardedFor'
  >;
  readonly server: http.Server;
  readonly admission: HandshakeAdmission;
  readonly connections: Connections;
  readonly events: EventShapes;
  readonly stats: WsGatewayStats;
  readonly log: Log;
  readonly closing: () => boolean;
}

/** One handshake's own facts, fixed when it starts. */
interface Attempt {
  readonly socket: Duplex;
  readonly connectionId: string;
  readonly connectedAt: number;
  /** The authorizer and $connect see the same HTTP request, hence the same request id. */
  readonly requestId: string;
}

export class Handshakes {
  /** Sockets between the upgrade request and the accepted WebSocket. */
  private readonly sockets = new Set<Duplex>();
  // The subprotocol the $connect handler chose, handed from the async handshake to ws.
  private readonly chosenProtocol = new WeakMap<http.IncomingMessage, string>();
  private readonly wss: WebSocketServer;

  constructor(private readonly opts: HandshakesOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: maxMessageBytes,
      perMessageDeflate: false,
      // AWS completes the handshake without a subprotocol unless $connect returns one; a client
      // that insists on one then fails, as a browser does against AWS.
      handleProtocols: (_protocols, req) => this.chosenProtocol.get(req) ?? false,
    });
  }

  readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.sockets.delete(socket));
    this.admit(req, socket, head).catch((err: unknown) => {
      this.opts.log(`ws: handshake failed: ${describe(err)}`);
      refuse(socket, 500, { message: 'Internal server error' });
    });
  };

  /** Cuts the handshakes under way; queued ones are the admission's to refuse. */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  close(): void {
    this.wss.close();
  }

  /** A 429 or 503 refusal: the load kind, which clients retry with backoff. */
  private refuseForLoad(socket: Duplex, status: 429 | 503): void {
    const stats = this.opts.stats;
    stats.connectionsRefused += 1;
    if (status === 429) {
      stats.handshakesThrottled += 1;
      return refuse(socket, 429, { message: 'Too Many Requests' }, 'LimitExceededException');
    }
    stats.handshakesUnavailable += 1;
    refuse(socket, 503, { message: 'Service Unavailable' });
  }

  private async admit(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { closing, settings, admission } = this.opts;
    if (closing()) return refuse(socket, 503, { message: 'Service Unavailable' });
    if (!isValidUpgrade(req)) return refuse(socket, 400, { message: 'Bad Request' });
    if (settings.unavailable?.() !== undefined) return this.refuseForLoad(socket, 503);
    const pending = admission.admit();
    const verdict = pending instanceof Promise ? await pending : pending;
    if (!verdict.admitted) return this.refuseForLoad(socket, verdict.status);
    try {
      // The client may have given up while it waited for a slot.
      if (closing() || socket.destroyed) return refuse(socket, 503, { message: 'Service Unavailable' });
      await this.handshake(req, socket, head);
    } finally {
      verdict.release();
    }
  }

  private async handshake(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { settings, server, events, stats, log, connections } = this.opts;
    const connectedAt = Date.now();
    const connectionId = gatewayId();
    const identity = identityOf(req, settings.trustForwardedFor === true);
    const request = handshakeRequest(req, server);
    const a: Attempt = { socket, connectionId, connectedAt, requestId: gatewayId() };
    const connectContext = () => events.connectContext(a.connectionId, a.connectedAt, identity, a.requestId);

    let authorizer: Authorizer | undefined;
    if (settings.authorizer) {
      const event = { type: 'REQUEST', methodArn: METHOD_ARN, ...request, stageVariables: {} };
      const verdict = await this.inTime(
        a,
        authorize(
          settings.authorizer,
          req,
          { ...event, requestContext: connectContext() },
          {
            stats,
            log,
            unavailable: settings.unavailable,
          },
        ),
      );
      if (verdict === TIMED_OUT) return this.timedOut(a);
      if ('refusal' in verdict) {
        if (verdict.refusal.status === 503) return this.refuseForLoad(socket, 503);
        stats.connectionsRefused += 1;
        return refuse(socket, verdict.refusal.status, { message: verdict.refusal.message }, verdict.refusal.errorType);
      }
      authorizer = verdict.authorizer;
    }

    const connect = settings.routes.get('$connect');
    if (connect) {
      const event = {
        ...request,
        requestContext: { ...connectContext(), ...(authorizer && { authorizer: { ...authorizer } }) },
        isBase64Encoded: false,
      };
      let result: unknown;
      try {
        result = await this.inTime(a, connect.invoke(event, invocationContext('$connect')));
      } catch (err) {
        stats.handlerErrors += 1;
        // DynamoDB throttled, timed out or is down: a load refusal the client retries, not a bug.
        if (isCapacityError(err) || settings.unavailable?.() !== undefined) return this.refuseForLoad(socket, 503);
        stats.connectionsRefused += 1;
        log(`ws: $connect threw, refusing ${a.connectionId}: ${describe(err)}`);
        return refuse(socket, 500, { message: 'Internal server error' });
      }
      if (result === TIMED_OUT) return this.timedOut(a);
      const status = statusCodeOf(result);
      if (status !== undefined && (status < 200 || status > 299)) {
        stats.connectionsRefused += 1;
        const body = isRecord(result) && typeof result.body === 'string' ? result.body : '';
        return refuse(socket, status, body);
      }
      const protocol = isRecord(result) ? headerValue(result.headers, 'sec-websocket-protocol') : undefined;
      if (protocol) this.chosenProtocol.set(req, protocol);
    }

    let accepted = false;
    if (!this.opts.closing() && !socket.destroyed) {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        this.sockets.delete(socket);
        connections.register(ws, a.connectionId, a.connectedAt, identity, authorizer);
      });
    }
    if (!accepted) {
      // The client left (or we are shutting down) after $connect said yes.
      socket.destroy();
      connections.abandoned({ id: a.connectionId, connectedAt: a.connectedAt, identity, authorizer });
    }
  }

  /** Each step gets what is left of the handshake's time (see handshakeTimeoutMs). */
  private inTime<T>(attempt: Attempt, step: Promise<T>): Promise<T | typeof TIMED_OUT> {
    const limit = this.opts.settings.handshakeTimeoutMs;
    if (limit === undefined) return step;
    const left = attempt.connectedAt + limit - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof TIMED_OUT>(
      (resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, left))),
    );
    return Promise.race([step, late]).finally(() => clearTimeout(timer));
  }

  private timedOut(attempt: Attempt): void {
    this.opts.stats.handshakesTimedOut += 1;
    this.opts.log(
      `ws: handshake ${attempt.connectionId} took over ${this.opts.settings.handshakeTimeoutMs} ms, refusing it 503`,
    );
    return this.refuseForLoad(attempt.socket, 503);
  }
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
