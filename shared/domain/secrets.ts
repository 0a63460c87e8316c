// Event ids and operator tokens: random, URL-safe; tokens kept only as hashes and compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const newEventId = (): string => randomBytes(9).toString('base64url');

export const newOperatorToken = (): string => randomBytes(32).toString('base64url');

/** Tokens carry 256 random bits, so a plain SHA-256 is enough: there is nothing to guess from the hash. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

/** Compares hashes of equal length, so neither the token's length nor its content leaks through timing. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(token));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The same constant-time comparison for the organiser's admin key. */
export function keyMatches(given: string, expected: string): boolean {
  return tokenMatches(given, hashToken(expected));
}
