// One way to retry, for every Node-side loop that tries again (DynamoDB conflicts and unprocessed
// keys, throttled posts, a stand-in that is not up yet): capped exponential backoff with full jitter
// — AWS's "Exponential Backoff And Jitter" — so a crowd refused together does not come back together.
//
//   for await (const attempt of attempts({ tries: 10, baseMs: 20, capMs: 1_000 })) {
//     if (await tryOnce(attempt)) return;
//   }
//   throw new Error('still failing after 10 tries');
//
// The browser pages keep their own loops (web/lib/live-connection.ts, web/lib/outbox.ts): they
// persist their state across reloads and obey Retry-After, and cannot import node:timers.
import { setTimeout as sleep } from 'node:timers/promises';

/** A wait before retry `attempt` (1, 2, …): uniform in [0, min(cap, base × 2^attempt)]. */
export const backoffMs = (attempt: number, random: () => number = Math.random, baseMs = 50, capMs = 2_000): number =>
  random() * Math.min(capMs, baseMs * 2 ** attempt);

export interface RetryPolicy {
  /** Tries in all, the first included. */
  tries: number;
  baseMs?: number;
  capMs?: number;
  /** Retries that go at once, before any waiting (a first miss that may be only a stale cache). */
  immediate?: number;
  random?: () => number;
  /** How to wait; tests pass a fake clock's. */
  sleep?: (ms: number) => Promise<unknown>;
}

/**
 * The attempt numbers 0 … tries-1, waiting a backoff before each retry (attempt n waits
 * backoffMs(n), after the first `immediate` retries). The caller breaks out on success; a loop that
 * runs out of attempts falls through to the caller's own error.
 */
export async function* attempts(policy: RetryPolicy): AsyncGenerator<number, void, undefined> {
  const { tries, baseMs = 50, capMs = 2_000, immediate = 0, random = Math.random } = policy;
  const wait = policy.sleep ?? sleep;
  for (let attempt = 0; attempt < tries; attempt++) {
    if (attempt > immediate) await wait(backoffMs(attempt, random, baseMs, capMs));
    yield attempt;
  }
}

export { sleep };
