// A sleep that wake() cuts short, for the stream source's poll and discovery loops.

/** A wake while awake is remembered, so none is lost between checks. */
export class Sleeper {
  private pending = false;
  private current: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    if (this.pending || ms <= 0) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.current = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.current = done;
    });
  }

  wake(): void {
    if (this.current) this.current();
    else this.pending = true;
  }
}
