// Paces posts to a share of the account's @connections budget, and backs off when AWS says 429.

/**
 * A GCRA token bucket (each take reserves the next slot, so waiters never race) whose rate adapts:
 * multiplicative decrease on a 429, additive increase on success, never above the configured rate.
 * On AWS the budget is shared with every other caller in the account; backing off is how this
 * worker finds its fair share when others spend more than planned.
 */
export class Pacer {
  private tat = 0; // theoretical arrival time of the next slot, in ms
  private current: number;

  constructor(
    private readonly maxRate: number,
    /** Slots that may be taken back to back after an idle spell. */
    private readonly burst: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    if (!(maxRate > 0)) throw new Error('rate must be positive');
    this.current = maxRate;
  }

  get rate(): number {
    return this.current;
  }

  /**
   * Reserves the next slot. Returns a promise to wait on when the slot is in the future, undefined
   * when the caller may send at once — the common case, kept free of promise machinery because it
   * runs once per post.
   */
  take(): Promise<void> | undefined {
    const interval = 1000 / this.current;
    const now = this.now();
    const slot = Math.max(this.tat, now - this.burst * interval);
    this.tat = slot + interval;
    const wait = slot - now;
    return wait > 0 ? this.sleep(wait) : undefined;
  }

  throttled(): void {
    this.current = Math.max(this.maxRate * 0.1, this.current * 0.7);
  }

  succeeded(): void {
    if (this.current < this.maxRate) this.current = Math.min(this.maxRate, this.current + this.maxRate * 0.002);
  }
}

/** Exponential backoff with full jitter, capped. */
export const backoffMs = (attempt: number, random: () => number = Math.random, baseMs = 50, capMs = 2_000): number =>
  random() * Math.min(capMs, baseMs * 2 ** attempt);
