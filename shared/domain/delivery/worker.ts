// A delivery worker: sweeps one shard of an event's connections again and again, and at each visit
// sends the connection everything it is owed since its last visit, coalesced into as few messages
// as the frame limit allows, paced to its share of the account's @connections budget.
import { randomUUID } from 'node:crypto';
import type { ConnectionRecord } from '../ports';
import { connectionPartition } from '../sharding';
import { BudgetLedger } from './budget-ledger';
import { ChangeFeed, type Message } from './change-feed';
import { attempts } from '../../retry';
import { Pacer } from './pacer';
import { countsIntervalMs } from './cadence';
import { Heartbeat } from './heartbeat';
import { Slots } from '../slots';
import type { WorkerDeps, WorkerOptions, WorkerReport } from './worker-options';

// Callers (the handler, the benchmarks, the tests) import the worker's options and report from here.
export {
  defaultWorkerOptions,
  type DeliveryObserver,
  type WorkerDeps,
  type WorkerOptions,
  type WorkerReport,
} from './worker-options';

/**
 * How soon a connection that answered 410 during its handshake is tried again: 250 ms, doubling up
 * to 4 s. Most handshakes end within the first retry; a phone that vanished before its first post
 * (no `$disconnect` yet) costs 7 posts over the grace, not 64 at a fixed 250 ms.
 */
const notYetOpenRetryMs = (tries: number) => Math.min(4_000, 250 * 2 ** tries);

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

export function runDeliveryWorker(
  eventId: string,
  shard: number,
  deps: WorkerDeps,
  options: WorkerOptions,
): Promise<WorkerReport> {
  return new DeliveryWorker(eventId, shard, deps, options).run();
}

/** One invocation's worker for one (event, shard); `run` once. */
class DeliveryWorker {
  private readonly report: WorkerReport = {
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
  private readonly owner = randomUUID();
  private readonly random: () => number;
  /** Set when the lease is known lost: store calls stop being retried. */
  private lost = false;
  /** Between a release and a re-acquire the lease is not this worker's to let go. */
  private holding = false;
  private readonly feed: ChangeFeed;
  private readonly pacer: Pacer;
  private readonly budget: BudgetLedger | undefined;
  private readonly heartbeat: Heartbeat;
  private readonly cursors = new Map<string, Cursor>();
  /** Where the last worker left every connection it knew: the floor for rows this one has not seen. */
  private inherited = 0;
  private startedAt = 0;
  private lastWorkAt = 0;
  private draining = false;

  // The shard's rows, read at most every rowsMaxAgeMs: while changes stream in, sweeps follow each
  // other closely and re-reading every row each time would cost more than the posts.
  private cachedRows: ConnectionRecord[][] | undefined;
  private rowsEverRead = false;
  /** When the cached rows' read was sent: rows written after that are not in them. */
  private rowsReadAt = -Infinity;
  /**
   * When the feed last learned of new changes. A viewer who joined after the rows were read and
   * before such a change is owed it but is not in the cached rows: before resting, the worker reads
   * the rows again whenever they are older than the newest change it knows (else that viewer would
   * wait until the worker lets go, idleExitMs later).
   */
  private headMovedAt = -Infinity;
  /** Gone since the rows were read (they are still in the cached rows). */
  private readonly goneIds = new Set<string>();
  /** The earliest time a connection passed over for stats is due (Infinity: none). */
  private deferred = Infinity;

  constructor(
    private readonly eventId: string,
    private readonly shard: number,
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    this.random = deps.random ?? Math.random;
    this.feed = new ChangeFeed(eventId, deps.changes, {
      onSkip: (changeNo, reason) => {
        this.report.skipped++;
        deps.log.warn('skipped a change-log line that cannot be sent', { eventId, shard, changeNo, reason });
      },
    });
    // Waiters re-check their slot every 100 ms: slots reserved at a slow rate (a newcomer's first, a
    // floor after 429s) move up when the rate recovers or the share arrives.
    const rate = options.ratePerSecond;
    this.pacer = new Pacer(rate, Math.max(1, rate / 10), deps.now, deps.sleep);
    // With a ledger the pacer runs at this worker's share of the account's budget, re-allotted at each
    // refresh (the first one before any post: a newcomer's rate until the others have seen it).
    const onRate = (share: number) => {
      const allotted = Math.min(rate, share);
      this.pacer.allot(allotted, Math.max(1, allotted / 10));
    };
    this.budget = deps.budget
      ? new BudgetLedger(
          deps.budget.store,
          deps.budget.policy,
          connectionPartition(eventId, shard),
          this.owner,
          deps.now,
          onRate,
          deps.log,
        )
      : undefined;
    // The lease is renewed on a heartbeat of its own: a sweep of a big shard at a small budget, or a
    // wait for posting slots, easily outlasts it.
    this.heartbeat = new Heartbeat(options.leaseTtlMs / 3, async () => {
      if (!(await deps.leases.renew(eventId, shard, this.owner, options.leaseTtlMs))) this.lost = true;
    });
  }

  async run(): Promise<WorkerReport> {
    const lease = await this.steady('lease', () => this.acquire());
    if (!lease) return this.end('not-leader');
    this.holding = true;
    this.inherited = lease.cursor ?? 0;
    this.startedAt = this.deps.now();
    this.lastWorkAt = this.startedAt;
    try {
      this.hold();
      // Everything after the cursor the last worker left is what this one may owe.
      const from = this.inherited;
      await this.steady('change log', () => this.feed.ensureFrom(from));
      return await this.loop();
    } catch (err) {
      await this.letGoFailing();
      throw err;
    } finally {
      await this.stopHolding();
    }
  }

  private end(outcome: WorkerReport['outcome']): WorkerReport {
    return { ...this.report, outcome };
  }

  private async loop(): Promise<WorkerReport> {
    for (;;) {
      if (this.lost) return this.end('lease-lost');
      if (this.timeIsUp()) this.draining = true;

      const owed = await this.sweepBeforeResting();
      if (owed === 'lost') return this.end('lease-lost');
      if (owed > 0) {
        this.lastWorkAt = this.deps.now();
        continue;
      }
      if (this.deferred !== Infinity) {
        // Some are owed only stats and wait their turn: come back when the first is due, or sooner
        // when the change log moves (the next sweep reads it).
        await this.deps.sleep(Math.max(1, Math.min(this.options.pollMs, this.deferred - this.deps.now())));
        this.lastWorkAt = this.deps.now();
        continue;
      }
      // Everyone this worker knows is at the head: the shard's state fits in one number.
      if (this.draining) {
        if (await this.releaseAndRecheck()) {
          await this.steady('successor', () => this.deps.successor.start(this.eventId, this.shard));
        }
        return this.end('handed-over');
      }

      const waited = await this.waitForNews();
      if (waited === 'lost') return this.end('lease-lost');
      if (waited === 'news') continue;
      // Idle long enough: one more sweep, on fresh rows, before letting go.
      this.cachedRows = undefined;
      const last = await this.sweep();
      if (last === 'lost') return this.end('lease-lost');
      if (last > 0) {
        this.lastWorkAt = this.deps.now();
        continue;
      }
      if (!(await this.releaseAndRecheck())) return this.end('idle');
      if (!(await this.takeBack())) return this.end('idle');
    }
  }

  /**
   * A sweep; and when it found nobody owed anything and the worker is about to rest or let go, a
   * second one on every row read afresh, so no connection that joined since the last read and is
   * owed a change is left waiting.
   */
  private async sweepBeforeResting(): Promise<number | 'lost'> {
    const owed = await this.sweep();
    if (owed !== 0 || !(this.draining || this.rowsOlderThanChanges())) return owed;
    this.cachedRows = undefined;
    return this.sweep();
  }

  /** Whether the cached rows may lack a connection owed the changes known now. */
  private rowsOlderThanChanges(): boolean {
    return this.rowsReadAt <= this.headMovedAt;
  }

  /**
   * Nothing owed: wait for the change log to move rather than re-reading every connection row.
   * New connections need no sweep until then: they are owed only changes after they joined.
   * A shard with no connections lets go at once: waiting would cost a change-log read every
   * pollMs (and a Lambda's time) for nobody, and the next change wakes a worker for it anyway
   * (DeliveryWake starts one for every shard without a lease). 20 reporter-only events kept 300
   * such workers polling 3,000 times a second between them.
   * Answers 'news' when the log moved or it is time to hand over (sweep again), 'idle' when idle long enough.
   */
  private async waitForNews(): Promise<'news' | 'idle' | 'lost'> {
    const idleForMs = this.cachedRows !== undefined && rowCount(this.cachedRows) === 0 ? 0 : this.options.idleExitMs;
    let moved = false;
    while (!moved && this.deps.now() - this.lastWorkAt < idleForMs && !this.draining) {
      await this.deps.sleep(this.options.pollMs);
      if (this.lost) return 'lost';
      moved = (await this.refresh()) > 0;
      if (this.timeIsUp()) this.draining = true;
    }
    return moved || this.draining ? 'news' : 'idle';
  }

  /**
   * Lets go of the shard with every connection this worker knows at the head, then reads the change
   * log again: a change that landed while letting go may have seen the lease still held and started
   * no one (the lost wake-up). Read now, not a shared answer from before the release, which could
   * hide it. Answers whether such changes arrived.
   */
  private async releaseAndRecheck(): Promise<boolean> {
    const done = Math.max(this.inherited, this.feed.head);
    await this.stopHolding();
    await this.steady('lease', () => this.deps.leases.release(this.eventId, this.shard, this.owner, done));
    this.holding = false;
    return (await this.refresh(true)) > 0;
  }

  /** After letting go, changes arrived: takes the shard back, unless another worker has. */
  private async takeBack(): Promise<boolean> {
    const again = await this.steady('lease', () => this.acquire());
    if (!again) return false;
    this.lost = false;
    this.holding = true;
    // Another worker may have held the shard in between and sent what this one knows as owed: the
    // cursor it left, not this worker's own, says where every connection stands. (With no one in
    // between it is `done`, where every cursor stood: starting afresh from it loses nothing.)
    this.inherited = again.cursor ?? 0;
    this.cursors.clear();
    const from = this.inherited;
    await this.steady('change log', () => this.feed.ensureFrom(from));
    this.hold();
    this.lastWorkAt = this.deps.now();
    return true;
  }

  private acquire() {
    return this.deps.leases.acquire(this.eventId, this.shard, this.owner, this.options.leaseTtlMs);
  }

  /** Holding the shard: the lease kept alive and the rows registered in the budget ledger. */
  private hold(): void {
    this.heartbeat.start();
    this.budget?.start();
  }

  /** Before letting go (or failing): neither renewed any more, the registration taken out. */
  private async stopHolding(): Promise<void> {
    await this.heartbeat.stop();
    await this.budget?.stop();
  }

  /**
   * Failing: let go now rather than hold the shard, silent, until the lease's TTL (the Lambda
   * service's retry or the next wake-up takes over at once). At the floor, nothing is lost; a
   * connection ahead of it may be sent a change again, which clients apply by (seq, rev).
   */
  private async letGoFailing(): Promise<void> {
    await this.stopHolding();
    if (!this.holding || this.lost) return;
    await this.deps.leases.release(this.eventId, this.shard, this.owner, this.floor()).catch((err: unknown) => {
      this.deps.log.warn('a failing delivery worker could not let go of its lease', {
        eventId: this.eventId,
        shard: this.shard,
        error: String(err),
      });
    });
  }

  /**
   * What every connection of the shard is known to have been sent, for a worker about to fail: the
   * least cursor of those it knows (the inherited one until it has read the rows).
   */
  private floor(): number {
    if (!this.rowsEverRead) return this.inherited;
    let min = this.feed.head;
    for (const c of this.cursors.values()) min = Math.min(min, c.through);
    return Math.max(this.inherited, min);
  }

  private timeIsUp(): boolean {
    const { maxRunMs, handoverMarginMs } = this.options;
    return this.deps.now() - this.startedAt > maxRunMs || (this.deps.timeLeftMs?.() ?? Infinity) < handoverMarginMs;
  }

  /**
   * A store call, tried again with backoff after a failure (DynamoDB throttling, a timeout): a
   * worker that died of one would hold its shard's lease, silent, until the TTL ran out. A call that
   * committed before its answer was lost is safe to repeat: each is idempotent for this owner.
   */
  private async steady<T>(what: string, call: () => Promise<T>): Promise<T> {
    const tries = Math.max(1, this.options.maxStoreAttempts);
    let failure: unknown;
    // Base 50 ms: attempts() waits backoffMs(n) before try n, the same wait as 100 ms doubling from
    // the first retry (up to 2 s), what this loop waited before it went through attempts().
    const policy = { tries, baseMs: 50, capMs: 2_000, random: this.random, sleep: this.deps.sleep };
    for await (const attempt of attempts(policy)) {
      try {
        return await call();
      } catch (err) {
        if (this.lost) throw err;
        failure = err;
        if (attempt + 1 === tries) break;
        this.report.storeRetries++;
        this.deps.log.debug('a delivery store call failed; trying again', {
          eventId: this.eventId,
          shard: this.shard,
          what,
          attempt,
          error: String(err),
        });
      }
    }
    throw failure;
  }

  /** Reads new changes into the feed, noting when some arrived. */
  private async refresh(fresh = false): Promise<number> {
    // Counted by the head: a read that failed after its first page keeps what it got.
    const before = this.feed.head;
    await this.steady('change log', () => this.feed.refresh(fresh));
    const added = this.feed.head - before;
    if (added > 0) this.headMovedAt = this.deps.now();
    return added;
  }

  private async shardRows(): Promise<ConnectionRecord[][]> {
    if (this.cachedRows && this.deps.now() - this.rowsReadAt < this.options.rowsMaxAgeMs) return this.cachedRows;
    const readAt = this.deps.now();
    const pages = await this.steady('connection rows', async () => {
      const read: ConnectionRecord[][] = [];
      for await (const page of this.deps.connections.listShard(this.eventId, this.shard)) read.push(page);
      return read;
    });
    this.cachedRows = pages;
    this.budget?.noteRows(rowCount(pages));
    this.rowsEverRead = true;
    this.rowsReadAt = readAt;
    this.goneIds.clear();
    return pages;
  }

  /** One pass over the shard. Returns how many connections were owed something, or 'lost' with the lease. */
  private async sweep(): Promise<number | 'lost'> {
    this.report.sweeps++;
    this.deferred = Infinity;
    const now = this.deps.now();
    if (!this.draining) await this.refresh();
    const seen = new Set<string>();
    const slots = new Slots(this.options.maxInFlight);
    let owed = 0;
    let sinceRefresh = 0;
    // From the rows this sweep goes over: counted before they were read, a sweep on fresh rows (the
    // one before resting, every second while counts stream in) saw 0 rows and a 1 s interval.
    const shardRows = await this.shardRows();
    const statsEveryMs = countsIntervalMs(rowCount(shardRows), {
      ...this.options,
      ratePerSecond: this.pacer.allotted,
    });

    for (const page of shardRows) {
      for (const connection of page) {
        if (this.lost) break;
        const id = connection.connectionId;
        if (!this.cursors.has(id) && this.goneIds.has(id)) continue;
        seen.add(id);
        const cursor = this.cursors.get(id) ?? (await this.newCursor(connection));
        if (!this.draining && ++sinceRefresh >= this.options.refreshEvery) {
          sinceRefresh = 0;
          await this.refresh();
        }
        if (cursor.through >= this.feed.head) continue;
        if (cursor.notBefore !== undefined && now < cursor.notBefore) {
          this.deferred = Math.min(this.deferred, cursor.notBefore);
          continue;
        }
        // Live counts never take more than half the budget, nor more than the event's counts budget
        // unless that would leave them staler than statsMaxIntervalMs: a connection owed nothing but
        // stats is visited only every statsEveryMs (its next visit brings the newest counts).
        if (!this.draining && this.feed.onlyStatsAfter(cursor.through) && now - cursor.visitedAt < statsEveryMs) {
          this.deferred = Math.min(this.deferred, cursor.visitedAt + statsEveryMs);
          continue;
        }
        owed++;
        const free = slots.acquire();
        if (free) await free;
        void this.visit(connection, cursor, this.feed.messagesAfter(cursor.through)).finally(slots.release);
      }
    }
    await slots.drain();
    if (this.lost) return 'lost';

    // Connections that left since the last sweep.
    for (const id of this.cursors.keys()) if (!seen.has(id)) this.cursors.delete(id);
    let min = this.feed.head;
    for (const c of this.cursors.values()) min = Math.min(min, c.through);
    this.feed.trim(min);
    return owed;
  }

  /** A connection this worker meets for the first time: owed what followed the later of the inherited cursor and its joining. */
  private async newCursor(connection: ConnectionRecord): Promise<Cursor> {
    const from = Math.max(this.inherited, connection.fromChange ?? this.inherited);
    const cursor: Cursor = { through: from, failures: 0, visitedAt: 0 };
    this.cursors.set(connection.connectionId, cursor);
    await this.steady('change log', () => this.feed.ensureFrom(from));
    return cursor;
  }

  /** One connection's visit: every message it is owed, in order; progress kept message by message. */
  private async visit(connection: ConnectionRecord, cursor: Cursor, messages: readonly Message[]): Promise<void> {
    // Owed only lines that cannot be sent (skipped): past them, with nothing to post.
    if (messages.length === 0) cursor.through = this.feed.head;
    for (const message of messages) {
      if (this.lost) return;
      const outcome = await this.deliver(connection, cursor, message);
      if (outcome === 'sent') continue;
      if (outcome === 'failed' && ++cursor.failures >= this.options.maxFailedVisits) {
        // Never let one broken connection keep the shard's worker alive forever.
        this.report.abandoned++;
        this.deps.observer?.abandoned();
        cursor.through = this.feed.head;
        this.deps.log.warn('giving up on a connection', { connectionId: connection.connectionId });
      }
      return;
    }
    cursor.failures = 0;
    cursor.visitedAt = this.deps.now();
    this.report.visits++;
  }

  /**
   * Posts one message, up to maxAttempts tries (429s and errors). 'ended': the connection is gone,
   * or not open yet and tried again later; 'failed': out of tries, retried next sweep.
   */
  private async deliver(
    connection: ConnectionRecord,
    cursor: Cursor,
    message: Message,
  ): Promise<'sent' | 'ended' | 'failed'> {
    const { maxAttempts } = this.options;
    // The wait after a failed try (50 ms doubling, up to 2 s) comes after the last one too, holding
    // the visit's slot as long as it always has: hence one round more that only waits, and base 25
    // (attempts() waits backoffMs(n) before try n, the old loop backoffMs(n - 1) after try n - 1).
    const policy = { tries: maxAttempts + 1, baseMs: 25, capMs: 2_000, random: this.random, sleep: this.deps.sleep };
    for await (const attempt of attempts(policy)) {
      if (attempt === maxAttempts) break;
      const slot = this.pacer.take();
      if (slot) await slot;
      this.report.posts++;
      let result;
      try {
        result = await this.deps.gateway.post(connection.connectionId, message.bytes);
      } catch (err) {
        this.report.errors++;
        this.deps.log.debug('post failed', { connectionId: connection.connectionId, error: String(err) });
        continue;
      }
      if (result === 'gone' && !cursor.opened && this.stillConnecting(connection)) {
        // API Gateway answers 410 until `$connect` has returned, and the row is written during
        // it: a connection that young is not gone, only not open yet. Try again next sweep.
        this.report.notYetOpen++;
        cursor.notYetOpen = (cursor.notYetOpen ?? 0) + 1;
        cursor.notBefore = this.deps.now() + notYetOpenRetryMs(cursor.notYetOpen - 1);
        return 'ended';
      }
      if (result === 'gone') {
        await this.forgetGone(connection);
        return 'ended';
      }
      if (result === 'throttled') {
        this.report.throttled++;
        this.deps.observer?.throttled();
        this.pacer.throttled();
        continue;
      }
      this.pacer.succeeded();
      this.deps.observer?.posted(message, this.deps.now());
      cursor.opened = true;
      cursor.through = message.through;
      return 'sent';
    }
    return 'failed';
  }

  /** Written by a `$connect` that may still be running (API Gateway gives it 29 s). */
  private stillConnecting(connection: ConnectionRecord): boolean {
    if (!connection.connectedAt) return false;
    return this.deps.now() - Date.parse(connection.connectedAt) < this.options.connectGraceMs;
  }

  private async forgetGone(connection: ConnectionRecord): Promise<void> {
    this.report.gone++;
    this.deps.observer?.gone();
    this.cursors.delete(connection.connectionId);
    this.goneIds.add(connection.connectionId);
    await this.deps.connections.remove(connection).catch((err: unknown) => {
      this.deps.log.warn('could not remove a gone connection', {
        connectionId: connection.connectionId,
        error: String(err),
      });
    });
  }
}
