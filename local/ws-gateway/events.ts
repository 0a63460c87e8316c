// The events API Gateway hands a WebSocket API's Lambdas (REST-style, v1 shapes): built from the
// handshake's HTTP request and, once accepted, from what the connection keeps.
import type http from 'node:http';
import { forwardedFor } from '../http-gateway';
import { gatewayId, gatewayTime } from '../lambda-context';

/** The stage and API id every event names; nothing configures others locally. */
export const STAGE = 'local';
export const API_ID = 'local';
/** What the authorizer's policy must allow. */
export const METHOD_ARN = `arn:aws:execute-api:local:000000000000:${API_ID}/${STAGE}/$connect`;

export interface Identity {
  readonly sourceIp: string;
  readonly userAgent?: string;
}

export type Authorizer = Readonly<Record<string, unknown>>;

/** What every event of an accepted connection says about it. */
export interface ConnectionFacts {
  readonly id: string;
  readonly connectedAt: number;
  readonly identity: Identity;
  readonly authorizer: Authorizer | undefined;
}

/** The handshake's headers and query, as the authorizer and `$connect` both see them. */
export interface HandshakeRequest {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly queryStringParameters: Record<string, string> | null;
  readonly multiValueQueryStringParameters: Record<string, string[]> | null;
}

export class EventShapes {
  /** `host:port`, known once the server listens. */
  domainName = '';

  /** The `$connect` requestContext; built afresh for each event, so `requestTimeEpoch` is each one's own. */
  connectContext(connectionId: string, connectedAt: number, identity: Identity, requestId: string) {
    return {
      routeKey: '$connect',
      eventType: 'CONNECT',
      extendedRequestId: requestId,
      requestTime: gatewayTime(connectedAt),
      messageDirection: 'IN',
      stage: STAGE,
      connectedAt,
      requestTimeEpoch: Date.now(),
      identity: { ...identity },
      requestId,
      domainName: this.domainName,
      connectionId,
      apiId: API_ID,
    };
  }

  /** The message event of a frame routed to `routeKey`. */
  message(conn: ConnectionFacts, routeKey: string, requestId: string, body: string, isBinary: boolean) {
    return {
      requestContext: { ...this.requestContext(conn, routeKey, 'MESSAGE', requestId), messageId: gatewayId() },
      body,
      isBase64Encoded: isBinary,
    };
  }

  disconnect(conn: ConnectionFacts, code: number, reason: string) {
    const domainName = this.domainName;
    return {
      headers: { Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' },
      multiValueHeaders: { Host: [domainName], 'x-api-key': [''], 'X-Forwarded-For': [''], 'x-restapi': [''] },
      requestContext: {
        ...this.requestContext(conn, '$disconnect', 'DISCONNECT', gatewayId()),
        disconnectStatusCode: code,
        disconnectReason: reason,
      },
      isBase64Encoded: false,
    };
  }

  /** The requestContext API Gateway gives every event of an accepted connection. */
  private requestContext(
    conn: ConnectionFacts,
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
      stage: STAGE,
      connectedAt: conn.connectedAt,
      requestTimeEpoch: now,
      identity: { ...conn.identity },
      requestId,
      domainName: this.domainName,
      connectionId: conn.id,
      apiId: API_ID,
      ...(conn.authorizer && { authorizer: { ...conn.authorizer } }),
    };
  }
}

export function handshakeRequest(req: http.IncomingMessage, server: http.Server): HandshakeRequest {
  return { ...eventHeaders(req, server), ...eventQuery(req.url ?? '/') };
}

export function identityOf(req: http.IncomingMessage, trustForwardedFor = false): Identity {
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
