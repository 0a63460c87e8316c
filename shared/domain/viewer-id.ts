// Anonymous viewer ids: a random id and its issue time, signed with a server secret (HMAC-SHA256).
// Anyone may hold one; nobody can make one without asking the server, which issues them under a
// per-address limit (functions/http-viewers.ts). So an identity costs a request from an address,
// and counting once per viewer id is counting once per something that cannot be multiplied for free.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * How long an id is good for. As long as a repost row is kept (its TTL, 30 days): within an id's
 * life its reposts are remembered, so it never counts twice; a page renews its id before the end.
 */
export const VIEWER_ID_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;

/** A viewer id's parts: `<id>.<issued, epoch seconds in base 36>.<mac>`; all URL-safe. */
const FORMAT = /^([A-Za-z0-9_-]{22})\.([0-9a-z]{1,10})\.([A-Za-z0-9_-]{43})$/;

export interface ViewerId {
  /** The identity reposts are counted by: 128 random bits, base64url. */
  id: string;
  /** Epoch ms (to the second). */
  issuedAt: number;
  /** The whole signed token, as the client sends it. */
  token: string;
}

const mac = (secret: string, body: string) => createHmac('sha256', secret).update(body, 'utf8').digest('base64url');

export function issueViewerId(secret: string, now: number): ViewerId {
  const id = randomBytes(16).toString('base64url');
  const issued = Math.floor(now / 1000);
  const body = `${id}.${issued.toString(36)}`;
  return { id, issuedAt: issued * 1000, token: `${body}.${mac(secret, body)}` };
}

/**
 * The id a token carries, if this server signed it and it is neither expired nor issued in the
 * future (a minute of clock skew allowed); undefined otherwise. Constant time in the MAC.
 */
export function verifyViewerId(
  secret: string,
  token: string,
  now: number,
  maxAgeMs = VIEWER_ID_MAX_AGE_MS,
): ViewerId | undefined {
  const m = FORMAT.exec(token);
  if (!m) return undefined;
  const [, id, issued36, given] = m as unknown as [string, string, string, string];
  const expected = Buffer.from(mac(secret, `${id}.${issued36}`));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  const issuedAt = parseInt(issued36, 36) * 1000;
  if (!Number.isSafeInteger(issuedAt) || issuedAt > now + 60_000 || now - issuedAt > maxAgeMs) return undefined;
  return { id, issuedAt, token };
}
