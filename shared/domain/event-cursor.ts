// The organiser's list cursor: opaque to clients (base64url of the last event's position), checked
// on the way back in, so a hand-made or truncated cursor is a 400 and never a Query from nowhere.
import * as z from 'zod';
import { badRequest } from './errors';
import type { EventPosition } from './ports';
import { eventIdSchema } from './protocol';

const position = z.strictObject({ c: z.iso.datetime({ offset: true }), e: eventIdSchema });

export function encodeEventCursor(p: EventPosition): string {
  return Buffer.from(JSON.stringify({ c: p.createdAt, e: p.eventId }), 'utf8').toString('base64url');
}

export function decodeEventCursor(cursor: string): EventPosition {
  const bad = () => badRequest('after: not a cursor this list handed out (use the "next" of the previous page)');
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const parsed = position.safeParse(value);
  if (!parsed.success) throw bad();
  return { createdAt: parsed.data.c, eventId: parsed.data.e };
}
