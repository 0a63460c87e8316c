// One read answering every caller that asks the same question within a short window, where one
// process hosts many delivery workers asking it (SharedChangeLog, SharedBudgetReads).
import type { Clock } from '../ports';
export class RecentReads<T> {
  /** Reads by question, kept while younger than maxAgeMs (in flight ones included). */
  private readonly recent = new Map<string, { at: number; result: Promise<T> }>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly now: Clock = Date.now,
  ) {}

  /** The answer to `key` another caller got within maxAgeMs, or a new `read()` (always, when `fresh`). */
  get(key: string, read: () => Promise<T>, fresh = false): Promise<T> {
    const now = this.now();
    if (!fresh) {
      const hit = this.recent.get(key);
      // Age counts from when the read was sent: it cannot have seen a write made after that.
      if (hit && now - hit.at < this.maxAgeMs) return hit.result;
    }
    const result = read();
    if (this.recent.size >= 256) this.prune(now);
    this.recent.set(key, { at: now, result });
    // A failed read is nobody's answer: the next caller asks again.
    result.catch(() => {
      if (this.recent.get(key)?.result === result) this.recent.delete(key);
    });
    return result;
  }

  private prune(now: number): void {
    for (const [key, read] of this.recent) if (now - read.at >= this.maxAgeMs) this.recent.delete(key);
  }
}
