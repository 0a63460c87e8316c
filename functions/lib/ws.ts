// The WebSocket side of every handler: the event shape, who the caller is, and frame parsing.
import type { z } from 'zod';
import { badRequest, AppError } from '../../shared/domain/errors';
import type { Caller } from '../../shared/domain/live-service';
import { clientId as clientIdSchema, isTooLargeIssue } from '../../shared/domain/protocol';

/** What API Gateway hands a WebSocket route's Lambda (the fields livecast reads). */
export interface WsEvent {
  requestContext: {
    routeKey: string;
    connectionId: string;
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    connectedAt?: number;
    requestTimeEpoch?: number;
    domainName?: string;
    stage?: string;
    /** The $connect authorizer's context, repeated by API Gateway on every event of the connection. */
    authorizer?: { principalId?: string; eventId?: string; role?: string; tokenGen?: string | number } | null;
  };
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

export interface WsResult {
  statusCode: number;
  body?: string;
}

export function callerOf(event: WsEvent): Caller {
  const { connectionId, authorizer } = event.requestContext;
  const eventId = authorizer?.eventId;
  const role = authorizer?.role;
  // Only a misconfigured deployment (no authorizer on $connect) gets here without both.
  if (!eventId || (role !== 'viewer' && role !== 'reporter')) {
    throw new Error('connection has no authorizer context');
  }
  // A reporter admitted before token generations existed has none: generation 0, the first token's.
  const tokenGen = role === 'reporter' ? Number(authorizer?.tokenGen ?? 0) : undefined;
  return { connectionId, eventId, role, ...(tokenGen !== undefined ? { tokenGen } : {}) };
}

/** The raw body as JSON, or a bad_request that says it is not. */
export function parseJson(body: string | null | undefined): unknown {
  if (body == null || body === '') throw badRequest('empty frame: send one JSON object with an "action"');
  try {
    return JSON.parse(body);
  } catch {
    throw badRequest('frame is not valid JSON: send one JSON object with an "action"');
  }
}

/** Validates a frame against its schema; the first problem becomes the error's message. */
export function parseFrame<S extends z.ZodType>(schema: S, body: string | null | undefined): z.infer<S> {
  const result = schema.safeParse(parseJson(body));
  if (result.success) return result.data;
  const issues = result.error.issues;
  const tooLarge = issues.find(isTooLargeIssue);
  if (tooLarge) throw new AppError('too_large', tooLarge.message);
  throw badRequest(issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; '));
}

/** The clientId of a frame if it had a usable one, so an error can name the request it answers. */
export function clientIdOf(body: string | null | undefined): string | undefined {
  try {
    const value = JSON.parse(body ?? '') as { clientId?: unknown };
    // Only a clientId the protocol accepts is echoed: a refused one (a NUL, a lone surrogate, a
    // bidi override…) is not sent back to the caller, or anywhere else.
    const parsed = clientIdSchema.safeParse(value?.clientId);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export const ok = (): WsResult => ({ statusCode: 200 });
export const reply = (frame: unknown): WsResult => ({ statusCode: 200, body: JSON.stringify(frame) });
