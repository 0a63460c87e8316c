// What a log line of an invocation says it is about: the event and the connection, wherever the
// trigger puts them. Only these two: never the query string's token or a frame's text.

/** An event id or connection id as the platform gives them: short, printable, or not logged at all. */
const plain = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 && value.length <= 128 && /^[\x21-\x7e]+$/.test(value)
    ? value
    : undefined;

type Loose = Record<string, unknown> | null | undefined;
const field = (o: unknown, key: string): unknown =>
  typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;

/**
 * `connectionId`: a WebSocket event's (and the $connect authorizer's) `requestContext.connectionId`.
 * `eventId`: from the authorizer's context (every message of a connection), else the handshake's
 * query string ($connect and its authorizer), else an HTTP path's `{eventId}`, else a payload's
 * `eventId` (the delivery worker's invocation).
 */
export function requestKeys(event: unknown): { eventId?: string; connectionId?: string } {
  const rc = field(event, 'requestContext') as Loose;
  const eventId =
    plain(field(field(rc, 'authorizer'), 'eventId')) ??
    plain(field(field(event, 'queryStringParameters'), 'eventId')) ??
    plain(field(field(event, 'pathParameters'), 'eventId')) ??
    plain(field(event, 'eventId'));
  const connectionId = plain(field(rc, 'connectionId'));
  return { ...(eventId ? { eventId } : {}), ...(connectionId ? { connectionId } : {}) };
}
