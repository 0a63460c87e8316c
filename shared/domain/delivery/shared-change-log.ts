// The change log as the delivery workers of one container read it: workers of the same event ask
// the same question ("anything after N?") every poll, so one read answers all who ask within a
// short window. On AWS a container runs one invocation at a time and this changes little; where
// one process hosts many workers (the local stage) it turns 16 polls into one.
import type { ChangeLog, Clock, LogLine } from '../ports';
import { RecentReads } from './recent-reads';

export type { ChangeLog } from '../ports';

export class SharedChangeLog implements ChangeLog {
  private readonly reads: RecentReads<LogLine[]>;

  constructor(
    private readonly store: ChangeLog,
    maxAgeMs: number,
    now: Clock = Date.now,
  ) {
    this.reads = new RecentReads(maxAgeMs, now);
  }

  changesAfter(
    eventId: string,
    changeNo: number,
    limit: number,
    options: { fresh?: boolean } = {},
  ): Promise<LogLine[]> {
    return this.reads.get(
      `${eventId}\u0000${changeNo}\u0000${limit}`,
      () => this.store.changesAfter(eventId, changeNo, limit),
      options.fresh,
    );
  }
}
