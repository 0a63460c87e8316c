// Paces posts to a share of the account's @connections budget, and backs off when AWS says 429.
import type { Clock } from '../ports';

/** From the floor back to the ceiling in about this long, at any rate (see `succeeded`). */
const RECOVER_MS = 5_000;

/** The least rate an allotment sets (requests per second). */
const MIN_ALLOTTED = 0.001;

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
    private maxRate: number,
    /** Slots that may be taken back to back after an idle spell. */
    private burst: number,
    private readonly now: Clock,
    private readonly sleep: (ms: number) => Promise<void>,
    /**
     * A waiter wakes at least this often to follow a rate change: its slot was reserved at the rate
     * of its `take`. Infinity: one sleep per wait, the slot kept whatever the rate does.
     */
    private readonly recheckMs = 100,
  ) {
    if (!(maxRate > 0)) throw new Error('rate must be positive');
    this.current = maxRate;
  }

  get rate(): number {
    return this.current;
  }

  /** The rate allotted to this pacer: its ceiling, of which backing off keeps at least a tenth. */
  get allotted(): number {
    return this.maxRate;
  }

  /**
   * A new allotment (the account's budget ledger moved): the backed-off fraction is kept, so a pacer
   * at 30% of its old ceiling is at 30% of the new one, and its floor is always a tenth of *this*
   * ceiling, never of a fixed share that K events together would take K times.
   */
  allot(allotted: number, burst = this.burst): void {
    if (!(allotted >= 0)) throw new Error('rate must not be negative');
    // 0 is a worker serving nobody (the ledger gives an empty shard nothing): a thousandth of a
    // post a second stands for it, as the rate must stay positive to divide by.
    const rate = Math.max(MIN_ALLOTTED, allotted);
    this.setRate((this.current / this.maxRate) * rate);
    this.maxRate = rate;
    this.burst = burst;
  }

  /**
   * Every rate change — an allotment, a 429, a recovery — re-times the slots already reserved: the
   * queue ahead drains at the new rate. Measured reason: with slots kept at the rate of their take,
   * a shard that met a burst of 429s (rate at its floor, a tenth) had reserved its whole sweep a
   * slot per 1.25 s, and once recovered still waited them out — takes of up to 24 s, sweeps of
   * 62 viewers in 26 s at a recovered 12.5/s (bench events, quick).
   */
  private setRate(next: number): void {
    const now = this.now();
    if (this.tat > now) this.tat = now + ((this.tat - now) * this.current) / next;
    this.current = next;
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
    if (wait <= 0) return undefined;
    return this.recheckMs === Infinity ? this.sleep(wait) : this.waitFor(slot, this.current);
  }

  /**
   * Waits for a slot reserved at `rate`: what is left of the wait is that many slots at `rate`,
   * re-timed at the current rate whenever it has changed (as `setRate` re-times the queue's end).
   */
  private async waitFor(slot: number, rate: number): Promise<void> {
    for (;;) {
      const now = this.now();
      if (this.current !== rate) {
        slot = now + (Math.max(0, slot - now) * rate) / this.current;
        rate = this.current;
      }
      const wait = slot - now;
      if (wait <= 0) return;
      await this.sleep(Math.min(wait, this.recheckMs));
    }
  }

  throttled(): void {
    this.setRate(Math.max(this.maxRate * 0.1, this.current * 0.7));
  }

  /**
   * Creeps back up: a 500th of the ceiling per success, or the time since the last success over
   * RECOVER_MS of it, whichever is more — so any pacer gets from its floor back to its ceiling within
   * ~5 s of successes. Counted per success alone, a shard allotted 8/s (the ledger's share of a
   * small account) at its floor of 0.8/s took ~10 minutes, and delivery with it (bench events).
   */
  succeeded(): void {
    const now = this.now();
    const since = now - this.lastSuccessAt;
    this.lastSuccessAt = now;
    if (this.current < this.maxRate) {
      this.setRate(
        Math.min(this.maxRate, this.current + this.maxRate * Math.max(0.002, Math.min(1, since / RECOVER_MS))),
      );
    }
  }
  private lastSuccessAt = -Infinity;
}
