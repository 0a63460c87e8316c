// Rate limits for anonymous callers: fixed windows counted in a store every container shares, with
// a memory per container of who is already over, so a flood is refused without a write per frame.
import type { Clock, RateLimitStore } from '../ports';

/** How much of something one caller (a connection, an address) may do. */
export interface Allowance {
  /** Uses per window. */
  limit: number;
  windowMs: number;
  /**
   * A caller still sending after this many uses in one window (refusals included) is told to go:
   * the verdict says `close`. Undefined: never.
   */
  closeAfter?: number;
}

export type Verdict =
  | { ok: true; count: number }
  | {
      ok: false;
      /** When the next use will be allowed (the window's end). */
      retryAfterMs: number;
      /** The caller kept going far past its allowance: close its connection. */
      close: boolean;
    };

export interface RateLimiterOptions {
  now?: () => number;
  /**
   * Keys remembered as over their allowance, per container (a flood of one key costs one write per
   * window per container, not one per frame). @default 10_000
   */
  maxRemembered?: number;
}

/**
 * Fixed windows, not a sliding log or token bucket: one atomic ADD per use is the cheapest shared
 * counter DynamoDB offers, and a caller can at most double its allowance across a window's edge —
 * a bound the allowances are set with in mind.
 */
export class RateLimiter {
  private readonly now: Clock;
  private readonly maxRemembered: number;
  /** Key → the window's end, for keys over their allowance in that window. */
  private readonly over = new Map<string, { until: number; uses: number; close: boolean }>();

  constructor(
    private readonly store: RateLimitStore,
    options: RateLimiterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxRemembered = options.maxRemembered ?? 10_000;
  }

  /**
   * Counts one use of `key` against `allowance` — or `cost` units of it, for a use whose price
   * varies (a sync: the @connections posts it will make).
   */
  async take(key: string, allowance: Allowance, cost = 1): Promise<Verdict> {
    const now = this.now();
    const windowStart = now - (now % allowance.windowMs);
    const windowEnd = windowStart + allowance.windowMs;
    const remembered = this.over.get(key);
    if (remembered && remembered.until > now) {
      // Already refused in this window by this container: no write. Uses refused here still count
      // towards closing, so a flood that stays on one container is cut off as one spread over many.
      remembered.uses += cost;
      if (allowance.closeAfter !== undefined && remembered.uses > allowance.closeAfter) remembered.close = true;
      return { ok: false, retryAfterMs: remembered.until - now, close: remembered.close };
    }
    const count = await this.store.hit(`${key}#${windowStart}`, windowEnd + allowance.windowMs, cost);
    if (count <= allowance.limit) return { ok: true, count };
    const close = allowance.closeAfter !== undefined && count > allowance.closeAfter;
    this.remember(key, { until: windowEnd, uses: count, close });
    return { ok: false, retryAfterMs: Math.max(1, windowEnd - now), close };
  }

  private remember(key: string, value: { until: number; uses: number; close: boolean }): void {
    if (this.over.size >= this.maxRemembered) {
      const now = this.now();
      for (const [k, v] of this.over) if (v.until <= now) this.over.delete(k);
      if (this.over.size >= this.maxRemembered) this.over.clear();
    }
    this.over.set(key, value);
  }
}
