// A delivery worker: sweeps one shard of an event's connections again and again, and at each visit
// sends the connection everything it is owed since its last visit, coalesced into as few messages
// as the frame limit allows, paced to its share of the account's @connections budget.
import { randomUUID } from 'node:crypto';
import type {
  BudgetLedgerStore,
  Clock,
  ConnectionGateway,
  ConnectionRecord,
  ConnectionStore,
  LeaseStore,
  Logger,
  WorkerStarter,
} from '../ports';
import { connectionPartition } from '../sharding';
import { BudgetLedger, type BudgetPolicy } from './budget-ledger';
import { ChangeFeed, type Message } from './change-feed';
import type { ChangeLog } from './shared-change-log';
import { backoffMs } from '../../retry';
import { Pacer } from './pacer';
import { countsIntervalMs, defaultCountsCadence } from './cadence';
import { Slots } from '../slots';

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

/**
 * How soon a connection that answered 410 during its handshake is tried again: 250 ms, doubling up
 * to 4 s. Most handshakes end within the first retry; a phone that vanished before its first post
 * (no `$disconnect` yet) costs 7 posts over the grace, not 64 at a fixed 250 ms.
 */
const notYetOpenRetryMs = (tries: number) => Math.min(4_000, 250 * 2 ** tries);

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

interface Cursor {
  through: number;
  failures: number;
  /** When a visit last brought it up to date (for spacing out visits that would carry only stats). */
  visitedAt: number;
  /** Not visited again before this (a connection still in its handshake). */
  notBefore?: number;
  /** A post to it has succeeded: from then on a 410 means gone. */
  opened?: boolean;
  /** 410s while still in its handshake (spaces out the retries). */
  notYetOpen?: number;
}

/** Connections in a shard's rows, read page by page. */
const rowCount = (pages: readonly (readonly ConnectionRecord[])[]): number =>
  pages.reduce((n, page) => n + page.length, 0);

export async function runDeliveryWorker(
  eventId: string,
  shard: number,
  deps: WorkerDeps,
  options: WorkerOptions,
): Promise<WorkerReport> {
  const report: WorkerReport = {
    outcome: 'idle',
    sweeps: 0,
    visits: 0,
    posts: 0,
    throttled: 0,
    gone: 0,
    notYetOpen: 0,
    errors: 0,
    abandoned: 0,
    skipped: 0,
    storeRetries: 0,
  };
  const owner = randomUUID();
  const random = deps.random ?? Math.random;
  /** Set when the lease is known lost: store calls stop being retried. */
  let lost = false;

  /**
   * A store call, tried again with backoff after a failure (DynamoDB throttling, a timeout): a
   * worker that died of one would hold its shard's lease, silent, until the TTL ran out. A call that
   * committed before its answer was lost is safe to repeat: each is idempotent for this owner.
   */
  async function steady<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (attempt + 1 >= options.maxStoreAttempts || lost) throw err;
        report.storeRetries++;
        deps.log.debug('a delivery store call failed; trying again', {
          eventId,
          shard,
          what,
          attempt,
          error: String(err),
        });
        await deps.sleep(backoffMs(attempt, random, 100));
      }
    }
  }

  const lease = await steady('lease', () => deps.leases.acquire(eventId, shard, owner, options.leaseTtlMs));
  if (!lease) return { ...report, outcome: 'not-leader' };
  /** Between a release and a re-acquire the lease is not this worker's to let go. */
  let holding = true;

  const feed = new ChangeFeed(eventId, deps.changes, {
    onSkip: (changeNo, reason) => {
      report.skipped++;
      deps.log.warn('skipped a change-log line that cannot be sent', { eventId, shard, changeNo, reason });
    },
  });
  // Waiters re-check their slot every 100 ms: slots reserved at a slow rate (a newcomer's first, a
  // floor after 429s) move up when the rate recovers or the share arrives.
  const pacer = new Pacer(options.ratePerSecond, Math.max(1, options.ratePerSecond / 10), deps.now, deps.sleep);
  // With a ledger the pacer runs at this worker's share of the account's budget, re-allotted at each
  // refresh (the first one before any post: a newcomer's rate until the others have seen it).
  const budget = deps.budget
    ? new BudgetLedger(
        deps.budget.store,
        deps.budget.policy,
        connectionPartition(eventId, shard),
        owner,
        deps.now,
        (rate) => {
          const allotted = Math.min(options.ratePerSecond, rate);
          pacer.allot(allotted, Math.max(1, allotted / 10));
        },
        deps.log,
      )
    : undefined;
  /** Holding the shard: the lease kept alive and the rows registered in the budget ledger. */
  const hold = () => {
    heartbeat.start();
    budget?.start();
  };
  /** Before letting go (or failing): neither renewed any more, the registration taken out. */
  const stopHolding = async () => {
    await heartbeat.stop();
    await budget?.stop();
  };
  const cursors = new Map<string, Cursor>();
  /** Where the last worker left every connection it knew: the floor for rows this one has not seen. */
  let inherited = lease.cursor ?? 0;
  const startedAt = deps.now();
  let lastWorkAt = startedAt;
  let draining = false;

  // The lease is renewed on a heartbeat of its own: a sweep of a big shard at a small budget, or a
  // wait for posting slots, easily outlasts it.
  const heartbeat = new Heartbeat(options.leaseTtlMs / 3, async () => {
    if (!(await deps.leases.renew(eventId, shard, owner, options.leaseTtlMs))) lost = true;
  });

  /** Written by a `$connect` that may still be running (API Gateway gives it 29 s). */
  function stillConnecting(connection: ConnectionRecord): boolean {
    if (!connection.connectedAt) return false;
    return deps.now() - Date.parse(connection.connectedAt) < options.connectGraceMs;
  }

  /** One connection's visit: every message it is owed, in order; progress kept message by message. */
  async function visit(connection: ConnectionRecord, cursor: Cursor, messages: readonly Message[]): Promise<void> {
    // Owed only lines that cannot be sent (skipped): past them, with nothing to post.
    if (messages.length === 0) cursor.through = feed.head;
    for (const message of messages) {
      if (lost) return;
      let delivered = false;
      for (let attempt = 0; attempt < options.maxAttempts && !delivered; attempt++) {
        const slot = pacer.take();
        if (slot) await slot;
        report.posts++;
        let result;
        try {
          result = await deps.gateway.post(connection.connectionId, message.bytes);
        } catch (err) {
          report.errors++;
          deps.log.debug('post failed', { connectionId: connection.connectionId, error: String(err) });
          await deps.sleep(backoffMs(attempt, random));
          continue;
        }
        if (result === 'gone' && !cursor.opened && stillConnecting(connection)) {
          // API Gateway answers 410 until `$connect` has returned, and the row is written during
          // it: a connection that young is not gone, only not open yet. Try again next sweep.
          report.notYetOpen++;
          cursor.notYetOpen = (cursor.notYetOpen ?? 0) + 1;
          cursor.notBefore = deps.now() + notYetOpenRetryMs(cursor.notYetOpen - 1);
          return;
        }
        if (result === 'gone') {
          report.gone++;
          deps.observer?.gone();
          cursors.delete(connection.connectionId);
          goneIds.add(connection.connectionId);
          await deps.connections.remove(connection).catch((err: unknown) => {
            deps.log.warn('could not remove a gone connection', {
              connectionId: connection.connectionId,
              error: String(err),
            });
          });
          return;
        }
        if (result === 'throttled') {
          report.throttled++;
          deps.observer?.throttled();
          pacer.throttled();
          await deps.sleep(backoffMs(attempt, random));
          continue;
        }
        pacer.succeeded();
        deps.observer?.posted(message, deps.now());
        cursor.opened = true;
        delivered = true;
        cursor.through = message.through;
      }
      if (!delivered) {
        if (++cursor.failures >= options.maxFailedVisits) {
          // Never let one broken connection keep the shard's worker alive forever.
          report.abandoned++;
          deps.observer?.abandoned();
          cursor.through = feed.head;
          deps.log.warn('giving up on a connection', { connectionId: connection.connectionId });
        }
        return;
      }
    }
    cursor.failures = 0;
    cursor.visitedAt = deps.now();
    report.visits++;
  }

  // The shard's rows, read at most every rowsMaxAgeMs: while changes stream in, sweeps follow each
  // other closely and re-reading every row each time would cost more than the posts.
  let cachedRows: ConnectionRecord[][] | undefined;
  /** The earliest time a connection passed over for stats is due (Infinity: none). */
  let deferred = Infinity;
  /** When the cached rows' read was sent: rows written after that are not in them. */
  let rowsReadAt = -Infinity;
  /**
   * When the feed last learned of new changes. A viewer who joined after the rows were read and
   * before such a change is owed it but is not in the cached rows: before resting, the worker reads
   * the rows again whenever they are older than the newest change it knows (else that viewer would
   * wait until the worker lets go, idleExitMs later).
   */
  let headMovedAt = -Infinity;
  const goneIds = new Set<string>();
  async function rows(): Promise<ConnectionRecord[][]> {
    if (cachedRows && deps.now() - rowsReadAt < options.rowsMaxAgeMs) return cachedRows;
    const readAt = deps.now();
    const pages = await steady('connection rows', async () => {
      const read: ConnectionRecord[][] = [];
      for await (const page of deps.connections.listShard(eventId, shard)) read.push(page);
      return read;
    });
    cachedRows = pages;
    budget?.noteRows(rowCount(pages));
    rowsEverRead = true;
    rowsReadAt = readAt;
    goneIds.clear();
    return pages;
  }

  /** Reads new changes into the feed, noting when some arrived. */
  async function refresh(fresh = false): Promise<number> {
    // Counted by the head: a read that failed after its first page keeps what it got.
    const before = feed.head;
    await steady('change log', () => feed.refresh(fresh));
    const added = feed.head - before;
    if (added > 0) headMovedAt = deps.now();
    return added;
  }

  /** Whether the cached rows may lack a connection owed the changes known now. */
  const rowsOlderThanChanges = () => rowsReadAt <= headMovedAt;

  /** One pass over the shard. Returns how many connections were owed something, or 'lost' with the lease. */
  async function sweep(): Promise<number | 'lost'> {
    report.sweeps++;
    deferred = Infinity;
    const now = deps.now();
    if (!draining) await refresh();
    const seen = new Set<string>();
    const slots = new Slots(options.maxInFlight);
    let owed = 0;
    let sinceRefresh = 0;
    // From the rows this sweep goes over: counted before they were read, a sweep on fresh rows (the
    // one before resting, every second while counts stream in) saw 0 rows and a 1 s interval.
    const shardRows = await rows();
    const statsEveryMs = countsIntervalMs(rowCount(shardRows), { ...options, ratePerSecond: pacer.allotted });

    for (const page of shardRows) {
      for (const connection of page) {
        if (lost) break;
        if (!cursors.has(connection.connectionId) && goneIds.has(connection.connectionId)) continue;
        seen.add(connection.connectionId);
        let cursor = cursors.get(connection.connectionId);
        if (!cursor) {
          cursor = { through: Math.max(inherited, connection.fromChange ?? inherited), failures: 0, visitedAt: 0 };
          cursors.set(connection.connectionId, cursor);
          const from = cursor.through;
          await steady('change log', () => feed.ensureFrom(from));
        }
        if (!draining && ++sinceRefresh >= options.refreshEvery) {
          sinceRefresh = 0;
          await refresh();
        }
        if (cursor.through >= feed.head) continue;
        if (cursor.notBefore !== undefined && now < cursor.notBefore) {
          deferred = Math.min(deferred, cursor.notBefore);
          continue;
        }
        // Live counts never take more than half the budget, nor more than the event's counts budget
        // unless that would leave them staler than statsMaxIntervalMs: a connection owed nothing but
        // stats is visited only every statsEveryMs (its next visit brings the newest counts).
        if (!draining && feed.onlyStatsAfter(cursor.through) && now - cursor.visitedAt < statsEveryMs) {
          deferred = Math.min(deferred, cursor.visitedAt + statsEveryMs);
          continue;
        }
        owed++;
        const free = slots.acquire();
        if (free) await free;
        void visit(connection, cursor, feed.messagesAfter(cursor.through)).finally(slots.release);
      }
    }
    await slots.drain();
    if (lost) return 'lost';

    // Connections that left since the last sweep.
    for (const id of cursors.keys()) if (!seen.has(id)) cursors.delete(id);
    let min = feed.head;
    for (const c of cursors.values()) min = Math.min(min, c.through);
    feed.trim(min);
    return owed;
  }

  let rowsEverRead = false;
  /**
   * What every connection of the shard is known to have been sent, for a worker about to fail: the
   * least cursor of those it knows (the inherited one until it has read the rows).
   */
  function floor(): number {
    if (!rowsEverRead) return inherited;
    let min = feed.head;
    for (const c of cursors.values()) min = Math.min(min, c.through);
    return Math.max(inherited, min);
  }

  try {
    hold();
    // Everything after the cursor the last worker left is what this one may owe.
    await steady('change log', () => feed.ensureFrom(inherited));
    return await loop();
  } catch (err) {
    await stopHolding();
    // Failing: let go now rather than hold the shard, silent, until the lease's TTL (the Lambda
    // service's retry or the next wake-up takes over at once). At the floor, nothing is lost; a
    // connection ahead of it may be sent a change again, which clients apply by (seq, rev).
    if (holding && !lost) {
      await deps.leases.release(eventId, shard, owner, floor()).catch((releaseErr: unknown) => {
        deps.log.warn('a failing delivery worker could not let go of its lease', {
          eventId,
          shard,
          error: String(releaseErr),
        });
      });
    }
    throw err;
  } finally {
    await stopHolding();
  }

  function timeIsUp(): boolean {
    return deps.now() - startedAt > options.maxRunMs || (deps.timeLeftMs?.() ?? Infinity) < options.handoverMarginMs;
  }

  async function loop(): Promise<WorkerReport> {
    for (;;) {
      if (lost) return { ...report, outcome: 'lease-lost' };
      if (timeIsUp()) draining = true;

      let owed = await sweep();
      if (owed === 'lost') return { ...report, outcome: 'lease-lost' };
      if (owed === 0 && (draining || rowsOlderThanChanges())) {
        // About to rest or let go: read every row afresh, so no connection that joined since the last
        // read and is owed a change is left waiting.
        cachedRows = undefined;
        owed = await sweep();
        if (owed === 'lost') return { ...report, outcome: 'lease-lost' };
      }
      if (owed > 0) {
        lastWorkAt = deps.now();
        continue;
      }
      if (deferred !== Infinity) {
        // Some are owed only stats and wait their turn: come back when the first is due, or sooner
        // when the change log moves (the next sweep reads it).
        await deps.sleep(Math.max(1, Math.min(options.pollMs, deferred - deps.now())));
        lastWorkAt = deps.now();
        continue;
      }
      // Everyone this worker knows is at the head: the shard's state fits in one number.
      let done = Math.max(inherited, feed.head);
      if (draining) {
        await stopHolding();
        await steady('lease', () => deps.leases.release(eventId, shard, owner, done));
        holding = false;
        // Read now, not a shared answer from before the release: a change the wake-up saw as covered by our lease must not be missed.
        if ((await refresh(true)) > 0) await steady('successor', () => deps.successor.start(eventId, shard));
        return { ...report, outcome: 'handed-over' };
      }

      // Nothing owed: wait for the change log to move rather than re-reading every connection row.
      // New connections need no sweep until then: they are owed only changes after they joined.
      // A shard with no connections lets go at once: waiting would cost a change-log read every
      // pollMs (and a Lambda's time) for nobody, and the next change wakes a worker for it anyway
      // (DeliveryWake starts one for every shard without a lease). 20 reporter-only events kept 300
      // such workers polling 3,000 times a second between them.
      const idleForMs = cachedRows !== undefined && rowCount(cachedRows) === 0 ? 0 : options.idleExitMs;
      let moved = false;
      while (!moved && deps.now() - lastWorkAt < idleForMs && !draining) {
        await deps.sleep(options.pollMs);
        if (lost) return { ...report, outcome: 'lease-lost' };
        moved = (await refresh()) > 0;
        if (timeIsUp()) draining = true;
      }
      if (moved || draining) continue;
      // Idle long enough: one more sweep, on fresh rows, before letting go.
      cachedRows = undefined;
      if ((owed = await sweep()) === 'lost') return { ...report, outcome: 'lease-lost' };
      if (owed > 0) {
        lastWorkAt = deps.now();
        continue;
      }

      done = Math.max(inherited, feed.head);
      await stopHolding();
      await steady('lease', () => deps.leases.release(eventId, shard, owner, done));
      holding = false;
      // A change that landed while letting go may have seen the lease still held and started no one
      // (read now: a shared answer from before the release could hide it).
      if ((await refresh(true)) === 0) return { ...report, outcome: 'idle' };
      const again = await steady('lease', () => deps.leases.acquire(eventId, shard, owner, options.leaseTtlMs));
      if (!again) return { ...report, outcome: 'idle' };
      lost = false;
      holding = true;
      // Another worker may have held the shard in between and sent what this one knows as owed: the
      // cursor it left, not this worker's own, says where every connection stands. (With no one in
      // between it is `done`, where every cursor stood: starting afresh from it loses nothing.)
      inherited = again.cursor ?? 0;
      cursors.clear();
      const from = inherited;
      await steady('change log', () => feed.ensureFrom(from));
      hold();
      lastWorkAt = deps.now();
    }
  }
}

/** Runs `beat` every `intervalMs` until stopped; a stop waits for a beat in progress. */
class Heartbeat {
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
