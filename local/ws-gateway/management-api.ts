// The @connections management API (POST, GET, DELETE /@connections/{id}) that the real
// ApiGatewayManagementApiClient talks to unchanged, with AWS's limits imitated on every call.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { WebSocket } from 'ws';
import { type Limiter, waitUntil } from '../aws-limits';
import type { Connections } from './connections';
import { STAGE } from './events';
import { deleted, emptyBuffer, gone, ok, type Outcome, throttled, tooLarge } from './outcomes';
import type { VirtualConnections } from './virtual-connections';
import { type Log, type ManagementCall, type WsGatewayStats, describe, maxMessageBytes } from './types';

export interface ManagementOptions {
  readonly connections: Connections;
  readonly virtuals: VirtualConnections;
  readonly limiter: Limiter | undefined;
  readonly onAnswer: ((call: ManagementCall, status: number) => void) | undefined;
  readonly stats: WsGatewayStats;
  readonly log: Log;
}

const stagePrefix = `/${STAGE}/@connections/`;

export class ManagementApi {
  constructor(private readonly opts: ManagementOptions) {}

  readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
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
          void this.manage({ op: 'post', connectionId, bytes }, data).then(
            (outcome) => respond(res, outcome),
            (err: unknown) => this.failed(res, err),
          );
        });
      case 'GET':
      case 'DELETE':
        req.resume();
        void this.manage({ op: req.method === 'GET' ? 'get' : 'delete', connectionId, bytes: 0 }, undefined).then(
          (outcome) => respond(res, outcome),
          (err: unknown) => this.failed(res, err),
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
  };

  /**
   * Every management call goes through here, HTTP-free, so limit imitation (latency, 429s,
   * injected 410s) applies to POST, GET and DELETE, to real and virtual connections alike.
   */
  private async manage(call: ManagementCall, data: Buffer | undefined): Promise<Outcome> {
    const onAnswer = this.opts.onAnswer;
    if (!onAnswer) return this.answer(call, data);
    const outcome = await this.answer(call, data);
    onAnswer(call, outcome.status);
    return outcome;
  }

  private async answer(call: ManagementCall, data: Buffer | undefined): Promise<Outcome> {
    const { limiter, stats, connections, virtuals } = this.opts;
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
        this.drop(call.connectionId);
        return gone;
      }
    }
    const conn = connections.get(call.connectionId);
    if (!conn || conn.ended || conn.ws.readyState !== WebSocket.OPEN) {
      const virtual = virtuals.get(call.connectionId);
      if (virtual !== undefined) return virtuals.answer(call, data, virtual);
      if (call.op === 'post') stats.postsGone += 1;
      return gone;
    }
    switch (call.op) {
      case 'post':
        if (call.bytes > maxMessageBytes) {
          stats.postsTooLarge += 1;
          connections.end(conn, 1009, 'Message too big', true);
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
        connections.end(conn, 1000, '', true);
        return deleted;
    }
  }

  /** An injected 410 makes the connection really gone, as when a phone drops. */
  private drop(id: string): void {
    const conn = this.opts.connections.get(id);
    if (conn !== undefined) return this.opts.connections.end(conn, 1001, 'Going away', true);
    this.opts.virtuals.drop(id);
  }

  private failed(res: http.ServerResponse, err: unknown): void {
    this.opts.log(`ws: management call failed: ${describe(err)}`);
    if (!res.headersSent)
      respond(res, {
        status: 500,
        errorType: 'InternalServerErrorException',
        body: '{"message":"Internal server error"}',
      });
  }
}

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
