// A counting semaphore without a promise on the fast path.

/**
 * At most `max` at once (a delivery worker takes one per connection visited). Acquiring is O(1); a
 * release that hands its slot on shifts the waiting array, O(waiting) (an earlier comment here said
 * O(1)).
 */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private drained: (() => void) | undefined;

  constructor(private readonly max: number) {}

  /** Undefined when a slot is free now; otherwise a promise that resolves with one handed over. */
  acquire(): Promise<void> | undefined {
    if (this.active < this.max) {
      this.active++;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  readonly release = (): void => {
    const next = this.waiting.shift();
    if (next) return next(); // the slot passes straight on
    this.active--;
    if (this.active === 0) this.drained?.();
  };

  drain(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }
}
