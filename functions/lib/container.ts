// What every handler needs — configuration, the logger, the DynamoDB stores and the services on
// them — built once per container on first use (never at import time). What only some functions
// use (the management API, Lambda, Secrets Manager) lives in a `part` of its own module
// (connections-api.ts, live.ts, workers.ts, admin-key.ts): a function bundles an SDK client only
// if it imports that module, so each bundle carries what its routes.ts grants allow and no more.
import { createDynamoClient } from '../../shared/adapters/aws-clients';
import { DynamoBudgetLedger } from '../../shared/adapters/dynamo-budget-ledger';
import { DynamoConnectionStore } from '../../shared/adapters/dynamo-connection-store';
import { DynamoEntryStore } from '../../shared/adapters/dynamo-entry-store';
import { DynamoEventStore } from '../../shared/adapters/dynamo-event-store';
import { DynamoLeaseStore } from '../../shared/adapters/dynamo-lease-store';
import { DynamoRateLimitStore } from '../../shared/adapters/dynamo-rate-limit-store';
import { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import { DynamoViewerCounts } from '../../shared/adapters/dynamo-viewer-counts';
import { type Config, loadConfig } from '../../shared/config';
import { SharedChangeLog } from '../../shared/domain/delivery/shared-change-log';
import { SharedBudgetReads } from '../../shared/domain/delivery/shared-budget-reads';
import { EventService } from '../../shared/domain/event-service';
import { RateLimiter } from '../../shared/domain/limits/rate-limiter';
import { RepostService } from '../../shared/domain/reposts/repost-service';
import { RepostTally } from '../../shared/domain/reposts/repost-tally';
import { StatsPublisher } from '../../shared/domain/stats-publisher';
import type {
  BudgetLedgerStore,
  ChangeLog,
  Clock,
  ConnectionStore,
  DeliveryWatch,
  EntryStore,
  EventStore,
  LeaseStore,
  Logger,
  RepostStore,
  ViewerCounts,
} from '../../shared/domain/ports';
import { createLogger } from '../../shared/logger';
import { traced } from '../../shared/observability/telemetry';

export interface Container {
  config: Config;
  log: Logger;
  events: EventService;
  reposts: RepostService;
  repostStore: RepostStore;
  eventStore: EventStore;
  entries: EntryStore;
  /** The change log as stored: every read consistent (a sync, the timeline's corrections). */
  changeStore: ChangeLog;
  /** The change log as delivery workers poll it: one read answers every worker of this container asking within 50 ms. */
  changeLog: ChangeLog;
  /** The live counts (stats lines) this container sends, from the repost tally and the viewer count. */
  stats: StatsPublisher;
  /** The Reposts stream consumer, with what it remembers between batches. */
  tally: RepostTally;
  connections: ConnectionStore;
  /** The viewer count, kept off the event item (counted from the Connections stream). */
  viewerCounts: ViewerCounts;
  leases: LeaseStore;
  /** The delivery watchdog's list of live events and view of the shards (the lease items' table). */
  watch: DeliveryWatch;
  /** Per-connection and per-address allowances, counted in the Limits table. */
  limiter: RateLimiter;
  /** The account's @connections budget ledger, shared by every delivery worker of every event. */
  budget: BudgetLedgerStore;
}

export function buildContainer(config: Config): Container {
  const log = createLogger(config.logLevel);
  const clock: Clock = Date.now;
  const db = traced(createDynamoClient(config));
  const eventStore = new DynamoEventStore(db, config.tables.events);
  const entries = new DynamoEntryStore(db, config.tables);
  const connections = new DynamoConnectionStore(db, config.tables, clock);
  const repostStore = new DynamoRepostStore(db, config.tables);
  const leases = new DynamoLeaseStore(db, config.tables.delivery);
  const viewerCounts = new DynamoViewerCounts(db, config.tables.repostCounts);
  const stats = new StatsPublisher({ reposts: repostStore, entries, viewers: viewerCounts, now: clock });
  const rules = config.spikeRules ? { rules: config.spikeRules } : {};
  return {
    config,
    log,
    events: new EventService({
      events: eventStore,
      entries,
      changes: entries,
      clock,
      reposts: repostStore,
      viewers: viewerCounts,
    }),
    reposts: new RepostService({ entries, reposts: repostStore, now: Date.now, log }),
    repostStore,
    eventStore,
    entries,
    changeStore: entries,
    stats,
    tally: new RepostTally({ reposts: repostStore, entries, now: clock, log, ...rules }, stats),
    // Half the workers' 100 ms poll: at most that much later to learn of a change, for 1 read instead of one per worker.
    changeLog: new SharedChangeLog(entries, 50),
    connections,
    viewerCounts,
    leases,
    watch: leases,
    limiter: new RateLimiter(new DynamoRateLimitStore(db, config.tables.limits)),
    // Reads shared by the workers of this container within 500 ms (shared-budget-reads.ts).
    budget: new SharedBudgetReads(new DynamoBudgetLedger(db, config.tables.budget), 500),
  };
}

let current: Container | undefined;

/** The container of this Lambda environment (or of the local stage's process). */
export const container = (): Container => (current ??= buildContainer(loadConfig()));

/** For the local stage and tests: forget the container so the next call reads the configuration anew. */
export const resetContainer = (): void => {
  current = undefined;
};

/**
 * A part of the container only some functions use: built from it on first use, once per container
 * (a new container after `resetContainer` gets a new one: the local stage's endpoints change).
 */
export function part<T>(make: (c: Container) => T): () => T {
  const built = new WeakMap<Container, { value: T }>();
  return () => {
    const c = container();
    let slot = built.get(c);
    if (!slot) built.set(c, (slot = { value: make(c) }));
    return slot.value;
  };
}
