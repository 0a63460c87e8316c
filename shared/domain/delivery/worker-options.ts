// What a delivery worker is given — its options and its ports — and what it reports (worker.ts runs it).
import type {
  BudgetLedgerStore,
  Clock,
  ConnectionGateway,
  ConnectionStore,
  LeaseStore,
  Logger,
  WorkerStarter,
} from '../ports';
import type { BudgetPolicy } from './budget-ledger';
import type { Message } from './change-feed';
import { defaultCountsCadence } from './cadence';
import type { ChangeLog } from './shared-change-log';

export interface WorkerOptions {
  /**
   * This worker's rate, requests per second: with a budget ledger (deps.budget) its ceiling, the
   * ledger allotting the share; without one, the fixed rate.
   */
  ratePerSecond: number;
  /** Posts in flight at once (latency × rate, with headroom). */
  maxInFlight: number;
  /** With nothing to send for this long, the worker lets go of its lease and ends. */
  idleExitMs: number;
  /** Hand over to a fresh invocation after this long at the latest. */
  maxRunMs: number;
  /** …or when the invocation has less than this left (Lambda's 15-minute limit). */
  handoverMarginMs: number;
  leaseTtlMs: number;
  /** With nothing owed, how often the change log is checked for news. */
  pollMs: number;
  /** Re-read the change log every this many connections, so later visits carry newer changes. */
  refreshEvery: number;
  /** Tries per message within one visit (429s and errors); a connection that runs out is retried next sweep. */
  maxAttempts: number;
  /** Consecutive failed visits after which a connection is given up (counted as failed). */
  maxFailedVisits: number;
  /**
   * How long a sweep may reuse the shard's connection rows instead of reading them again. A new
   * connection is found within this; it loses nothing (it is owed every change after it joined).
   */
  rowsMaxAgeMs: number;
  /**
   * The shortest time between two visits to a connection that would carry only stats; longer for a
   * big shard, so that stats take at most half the worker's budget.
   */
  statsMinIntervalMs: number;
  /** …and the longest, unless the budget forces more: how stale counts may get (see cadence.ts). */
  statsMaxIntervalMs: number;
  /** This worker's share of the event's budget for counts-only messages per second (see cadence.ts). */
  countsPerSecond: number;
  /**
   * A 410 from a connection whose row is younger than this means "not open yet", not "gone": the
   * handshake's longest time from `connectedAt` (shared/routes.ts HANDSHAKE_MAX_MS) and a margin.
   */
  connectGraceMs: number;
  /**
   * Tries per store call (change log, connection rows, lease, successor start) before the invocation
   * fails. A throttled or timed-out read is retried with backoff while the lease is kept alive;
   * only a run of failures this long fails the invocation (which lets go of the lease first).
   */
  maxStoreAttempts: number;
}

export const defaultWorkerOptions: Omit<WorkerOptions, 'ratePerSecond'> = {
  maxInFlight: 64,
  idleExitMs: 10_000,
  maxRunMs: 13 * 60_000,
  handoverMarginMs: 60_000,
  leaseTtlMs: 30_000,
  pollMs: 100,
  refreshEvery: 256,
  maxAttempts: 8,
  maxFailedVisits: 5,
  rowsMaxAgeMs: 1_000,
  ...defaultCountsCadence,
  // HANDSHAKE_MAX_MS (authorizer 10 s + $connect 5 s) + 1 s; a test holds the two together.
  connectGraceMs: 16_000,
  // ~6 s of backoff on average, under half the lease's TTL.
  maxStoreAttempts: 10,
};

export interface WorkerDeps {
  /** The change log; reads may be shared with other workers of this container (SharedChangeLog). */
  changes: ChangeLog;
  connections: ConnectionStore;
  gateway: ConnectionGateway;
  leases: LeaseStore;
  /** Starts the next worker when this one hands over with work left. */
  successor: WorkerStarter;
  log: Logger;
  now: Clock;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  /** Time left in this invocation (Lambda's context); the local stage drops it to 0 to stop. */
  timeLeftMs?: () => number;
  /** Told of each post's outcome as it happens (metrics: functions/lib/observe-delivery.ts). */
  observer?: DeliveryObserver;
  /** The account's @connections budget ledger: the worker's rate is its share of B (budget-ledger.ts). */
  budget?: { store: BudgetLedgerStore; policy: BudgetPolicy };
}

/** What a running worker reports as it goes, for metrics that must not wait for its end (up to 13 minutes). */
export interface DeliveryObserver {
  /** A post the @connections API accepted, at `acceptedAt` (epoch ms). */
  posted(message: Message, acceptedAt: number): void;
  throttled(): void;
  gone(): void;
  abandoned(): void;
}

export interface WorkerReport {
  outcome: 'not-leader' | 'idle' | 'handed-over' | 'lease-lost';
  sweeps: number;
  /** Visits that brought a connection up to date. */
  visits: number;
  posts: number;
  throttled: number;
  gone: number;
  /** 410s from connections still in their `$connect`, retried rather than removed. */
  notYetOpen: number;
  errors: number;
  /** Connections given up after repeated failures. */
  abandoned: number;
  /** Change-log lines that could not be sent to anyone (malformed, or over the frame limit): logged and passed over. */
  skipped: number;
  /** Store calls (change log, rows, lease) that failed and were tried again. */
  storeRetries: number;
}
