// The delivery watchdog: finds events whose delivery stopped short of their change log (a wake-up
// lost after its retries, a worker that crashed for good) and wakes the shards left behind.
import type { Clock, DeliveryWatch, EventStore, LeaseStore, Logger, WorkerStarter } from '../ports';
import { ALL_SHARDS, wakeDelivery } from './wake';

export interface WatchdogDeps {
  watch: DeliveryWatch;
  leases: LeaseStore;
  events: Pick<EventStore, 'get'>;
  starter: WorkerStarter;
  log: Logger;
  now: Clock;
}

export interface WatchdogOptions {
  /** An event leaves the list when every shard is caught up and it was last woken this long ago. */
  watchForMs: number;
  /** Events looked at in parallel. */
  concurrency?: number;
}

export interface CheckReport {
  watched: number;
  /** Shards whose worker the watchdog started (a lost wake-up healed). */
  woken: number;
  unwatched: number;
}

/**
 * One instance per invocation; `check()` is called every few seconds. A shard with no live worker
 * whose cursor is behind the event's last change is normal for the instant between a commit and
 * its wake-up; it is a lost wake-up when it is still behind, with still no worker, a change it was
 * already behind at the previous check. Waking it then costs at most a start that finds the lease
 * taken, so the rule errs towards waking.
 */
export class DeliveryWatchdog {
  /** Per event: its last change when the previous check found shards behind. */
  private readonly behindAt = new Map<string, number>();

  constructor(
    private readonly deps: WatchdogDeps,
    private readonly options: WatchdogOptions,
  ) {}

  async check(): Promise<CheckReport> {
    const watched = await this.deps.watch.watched();
    for (const id of this.behindAt.keys()) if (!watched.has(id)) this.behindAt.delete(id);
    const report: CheckReport = { watched: watched.size, woken: 0, unwatched: 0 };
    const queue = [...watched];
    const lane = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [eventId, markedAt] = next;
        try {
          const outcome = await this.checkEvent(eventId, markedAt);
          if (outcome === 'unwatched') report.unwatched++;
          else report.woken += outcome;
        } catch (err) {
          // One event's trouble must not blind the watchdog to the others; it is looked at again next check.
          this.deps.log.warn('delivery watchdog: check failed', { eventId, error: err });
        }
      }
    };
    await Promise.all(Array.from({ length: this.options.concurrency ?? 8 }, lane));
    return report;
  }

  private async checkEvent(eventId: string, markedAt: number): Promise<number | 'unwatched'> {
    // Shards first, then the event: a change committed in between is then newer than both, never mistaken for one missed.
    const shards = await this.deps.watch.shardStates(eventId, ALL_SHARDS);
    const event = await this.deps.events.get(eventId);
    if (!event) {
      await this.deps.watch.unwatch(eventId, markedAt);
      return 'unwatched';
    }
    const behind = shards.filter((s) => !s.held && s.cursor < event.lastChange);
    if (behind.length === 0) {
      this.behindAt.delete(eventId);
      if (this.deps.now() - markedAt < this.options.watchForMs) return 0;
      await this.deps.watch.unwatch(eventId, markedAt);
      return 'unwatched';
    }
    const before = this.behindAt.get(eventId);
    this.behindAt.set(eventId, event.lastChange);
    const overdue = before === undefined ? [] : behind.filter((s) => s.cursor < before).map((s) => s.shard);
    if (overdue.length === 0) return 0;
    const woken = await wakeDelivery([eventId], this.deps, overdue);
    if (woken > 0)
      this.deps.log.warn('delivery watchdog: woke shards left behind', {
        eventId,
        shards: overdue,
        lastChange: event.lastChange,
      });
    return woken;
  }
}
