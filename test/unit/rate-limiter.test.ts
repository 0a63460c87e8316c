// The rate limiter's windows, its memory of who is over, and when it says to close.
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../shared/domain/limits/rate-limiter';
import type { RateLimitStore } from '../../shared/domain/ports';

class CountingStore implements RateLimitStore {
  readonly counts = new Map<string, number>();
  writes = 0;
  async hit(key: string): Promise<number> {
    this.writes++;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }
}

describe('RateLimiter', () => {
  it('allows `limit` uses per window, refuses the rest until the window ends, then allows again', async () => {
    let now = 10_000;
    const limiter = new RateLimiter(new CountingStore(), { now: () => now });
    const allowance = { limit: 3, windowMs: 1_000 };
    const verdicts = [];
    for (let i = 0; i < 5; i++) verdicts.push(await limiter.take('c1:sync', allowance));
    expect(verdicts.map((v) => v.ok)).toEqual([true, true, true, false, false]);
    now = 10_400;
    const refused = await limiter.take('c1:sync', allowance);
    expect(refused).toEqual({ ok: false, retryAfterMs: 600, close: false });
    now = 11_000;
    expect((await limiter.take('c1:sync', allowance)).ok).toBe(true);
  });

  it("counts each key apart: one flooding caller does not spend another one's allowance", async () => {
    const limiter = new RateLimiter(new CountingStore(), { now: () => 5_000 });
    const allowance = { limit: 2, windowMs: 60_000 };
    for (let i = 0; i < 10; i++) await limiter.take('flooder:ping', allowance);
    expect((await limiter.take('honest:ping', allowance)).ok).toBe(true);
    expect((await limiter.take('flooder:sync', allowance)).ok).toBe(true);
  });

  it('refuses a flood from memory: one write per window per container, not one per frame', async () => {
    const store = new CountingStore();
    const limiter = new RateLimiter(store, { now: () => 5_000 });
    for (let i = 0; i < 1_000; i++) await limiter.take('c:ping', { limit: 10, windowMs: 60_000 });
    expect(store.writes).toBe(11);
  });

  it('says close once a caller keeps going past closeAfter, counting the refusals it remembered', async () => {
    const limiter = new RateLimiter(new CountingStore(), { now: () => 5_000 });
    const allowance = { limit: 5, windowMs: 60_000, closeAfter: 20 };
    const closes = [];
    for (let i = 0; i < 25; i++) {
      const v = await limiter.take('c:repost', allowance);
      closes.push(!v.ok && v.close);
    }
    expect(closes.indexOf(true)).toBe(20); // the 21st use
  });

  it('shares the count through the store: two containers together never allow more than the limit', async () => {
    const store = new CountingStore();
    const a = new RateLimiter(store, { now: () => 5_000 });
    const b = new RateLimiter(store, { now: () => 5_000 });
    const allowance = { limit: 4, windowMs: 60_000 };
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).take('c:sync', allowance)));
    expect(results.filter((v) => v.ok)).toHaveLength(4);
  });
});

describe('RateLimiter, priced uses', () => {
  it('counts a use at its cost: a few costly uses spend the allowance as many cheap ones would', async () => {
    const store = new CountingStore();
    const limiter = new RateLimiter(
      {
        hit: async (key, _exp, by = 1) => {
          store.counts.set(key, (store.counts.get(key) ?? 0) + by);
          return store.counts.get(key)!;
        },
      },
      { now: () => 5_000 },
    );
    const allowance = { limit: 20, windowMs: 60_000 };
    expect((await limiter.take('addr:sync-posts', allowance, 8)).ok).toBe(true);
    expect((await limiter.take('addr:sync-posts', allowance, 8)).ok).toBe(true);
    expect((await limiter.take('addr:sync-posts', allowance, 8)).ok).toBe(false);
    expect((await limiter.take('addr:sync-posts', allowance, 1)).ok).toBe(false);
  });
});
