// The lease's heartbeat: a delivery worker renews its lease on a timer of its own, apart from its sweeps.

/** Runs `beat` every `intervalMs` until stopped; a stop waits for a beat in progress. */
export class Heartbeat {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly intervalMs: number,
    private readonly beat: () => Promise<void>,
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.beat().catch(() => {}); // a failed renewal is retried next beat; the TTL has slack
      this.timer = setTimeout(() => void this.running.then(tick), this.intervalMs);
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
