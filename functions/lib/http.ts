// The HTTP side of every handler: payload v2 event shape, JSON bodies, the organiser's key.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { z } from 'zod';
import { badRequest, tooLarge, unauthorized } from '../../shared/domain/errors';
import { MAX_HTTP_BODY_BYTES } from '../../shared/domain/protocol';
import { keyMatches } from '../../shared/domain/secrets';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export const json = (statusCode: number, body: unknown): HttpResult => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(body),
});

function issuesMessage(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

export function parseBody<S extends z.ZodType>(schema: S, event: HttpEvent): z.infer<S> {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text, 'utf8') > MAX_HTTP_BODY_BYTES) {
    throw tooLarge(`request body is larger than ${MAX_HTTP_BODY_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('request body is not valid JSON');
  }
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(issuesMessage(result.error));
  return result.data;
}

export function parseQuery<S extends z.ZodType>(schema: S, event: HttpEvent): z.infer<S> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success) throw badRequest(issuesMessage(result.error));
  return result.data;
}

export function pathParam(event: HttpEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw badRequest(`missing path parameter ${name}`);
  return value;
}

/** The credential of `Authorization: Bearer <credential>`; `what` names it in the refusal. */
export function bearer(event: HttpEvent, what: { name: string; placeholder: string }): string {
  const header = event.headers?.authorization ?? event.headers?.Authorization;
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match?.[1]) throw unauthorized(`send the ${what.name} as "Authorization: Bearer <${what.placeholder}>"`);
  return match[1];
}

/** `Authorization: Bearer <key>`, compared in constant time. */
export function requireAdmin(event: HttpEvent, adminKey: string): void {
  const key = bearer(event, { name: 'organiser key', placeholder: 'key' });
  if (!keyMatches(key, adminKey)) throw unauthorized('the organiser key is wrong');
}
