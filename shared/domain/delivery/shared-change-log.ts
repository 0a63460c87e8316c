// The change log as the delivery workers of one container read it: workers of the same event ask
// the same question ("anything after N?") every poll, so one read answers all who ask within a
// short window. On AWS a container runs one invocation at a time and this changes little; where
// one process hosts many workers (the local stage) it turns 16 polls into one.
import type { EntryStore, LogLine } from '../ports';

export interface ChangeLog {
  /**
   * The change log after `changeNo`, in order, at most `limit`. Without `fresh` the answer may be
   * one another caller got up to the log's `maxAgeMs` ago (a poll that learns of a change that much
   * later loses nothing); `fresh` asks the store now — for checks whose "nothing new" is acted on.
   */
  changesAfter(eventId: string, changeNo: number, limit: number, options?: { fresh?: boolean }): Promise<LogLine[]>;
}

export class SharedChangeLog implements ChangeLog {
  /** Reads by question, kept while younger than maxAgeMs (in flight ones included). */
  private readonly recent = new Map<string, { at: number; result: Promise<LogLine[]> }>();

  constructor(
    private readonly store: Pick<EntryStore, 'changesAfter'>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  changesAfter(eventId: string, changeNo: number, limit: number, options: { fresh?: boolean } = {}): Promise<LogLine[]> {
    const key = `${eventId}\u0000${changeNo}\u0000${limit}`;
    const now = this.now();
    if (!options.fresh) {
      const hit = this.recent.get(key);
      // Age counts from when the read was sent: it cannot have seen a change written after that.
      if (hit && now - hit.at < this.maxAgeMs) return hit.result;
    }
    const result = this.store.changesAfter(eventId, changeNo, limit);
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
