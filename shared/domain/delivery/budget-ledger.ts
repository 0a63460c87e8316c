// The account's @connections budget shared by every delivery worker of every event: each registers
// its shard's connection count and takes B × rows ÷ Σrows (plus a small floor), refreshed every few
// seconds. Pure rules (`allot`, `BudgetShare`) and the loop a worker runs them in (`BudgetLedger`).
import { CONNECTION_SHARDS } from '../sharding';
import type { BudgetLedgerStore, BudgetRegistration, Clock, Logger } from '../ports';

export interface BudgetPolicy {
  /** B: the account's @connections budget, requests per second, for all workers of all events. */
  budget: number;
  /**
   * Kept for every live worker that has rows to serve (requests per second), however few, so the
   * smallest audience is never starved by a big one; also the rate of a worker that cannot read the
   * ledger. A worker with no rows keeps nothing (see `cutter`).
   */
  floorPerWorker: number;
  /**
   * The fraction of B no settled share is cut from: the least the newcomers (workers younger than
   * `settleMs`, whom the others may not have read yet) always have, split among those visible.
   */
  newcomerReserve: number;
  /** How often a worker registers its rows and reads every registration. */
  refreshMs: number;
  /** A registration not refreshed for this long is a dead worker's: its share returns to the others. */
  expiryMs: number;
  /**
   * A worker's settled share rises only after the rise has held this long (every other worker has
   * read the ledger and cut its own share by then); it falls at once. A worker younger than this is
   * a newcomer. (With no successful read for `expiryMs`, a worker falls back to the floor.)
   */
  settleMs: number;
}

export const defaultBudgetPolicy: Omit<BudgetPolicy, 'budget'> = {
  floorPerWorker: 2,
  newcomerReserve: 0.05,
  refreshMs: 3_000,
  expiryMs: 10_000,
  // One refresh, plus DynamoDB's eventually consistent read lag (well under a second), plus margin.
  settleMs: 5_000,
};

/**
 * Rounded down to a thousandth of a request per second, so shares that do not divide evenly never add
 * up past B (first to a millionth, so 2 computed as 1.9999999999 stays 2: at most 5e-7 over per
 * worker, far inside the newcomers' reserve).
 */
const down = (rate: number) => Math.max(0, Math.floor(Math.round(rate * 1_000_000) / 1_000) / 1_000);
// (Arithmetic, not `Number(x.toFixed(3))`: the same rounding, and the string round trip was 29% of
// the CPU of the ledger's 300-second simulation in test/unit/budget-ledger.test.ts, where every
// refresh cuts every live worker's share.)

/** The live registrations (refreshed within `expiryMs`), with `self` as it is now. */
function liveOnes(
  policy: BudgetPolicy,
  registrations: readonly BudgetRegistration[],
  self: Self,
  now: number,
): Map<string, Self> {
  const live = new Map<string, Self>();
  for (const r of registrations)
    if (now - r.beatAt < policy.expiryMs && r.key !== self.key)
      live.set(r.key, { key: r.key, rows: Math.max(0, r.rows), since: r.since });
  live.set(self.key, { ...self, rows: Math.max(0, self.rows) });
  return live;
}

type Self = { key: string; rows: number; since: number };

/**
 * A worker's settled share of B given every registration it read and its own current rows (its own
 * write may not be in an eventually consistent read yet). Each live worker keeps the floor (less,
 * if there are too many workers for it); the rest of B less the newcomers' reserve is cut in
 * proportion to rows. Σ of every live worker's settled share ≤ B × (1 − newcomerReserve).
 */
export function allot(
  policy: BudgetPolicy,
  registrations: readonly BudgetRegistration[],
  self: Self,
  now: number,
): number {
  return cutter(policy, [...liveOnes(policy, registrations, self, now).values()])(self.rows);
}

/**
 * The settled share of a worker of `rows` rows among `live` (itself included). A worker with no
 * rows reserves nothing, not even the floor: 20 reporter-only events run 300 such workers (4.8% of
 * a 10,000/s B held for nobody at a 2/s floor). It gets its first rows as a newcomer again
 * (`BudgetLedger.noteRows`), on the reserve kept for newcomers.
 */
function cutter(policy: BudgetPolicy, live: readonly Self[]): (rows: number) => number {
  const pool = policy.budget * (1 - policy.newcomerReserve);
  let totalRows = 0;
  let serving = 0;
  for (const r of live) {
    totalRows += r.rows;
    if (r.rows > 0) serving++;
  }
  const floor = Math.min(policy.floorPerWorker, pool / Math.max(1, serving));
  const spread = pool - floor * serving;
  return (rows) => (rows > 0 ? down(floor + (spread * rows) / totalRows) : 0);
}

/**
 * A newcomer's rate (a worker the others may not have read yet): what the settled workers leave of
 * B — at most B less the shares they would take among themselves, at least the reserve — split
 * among the newcomers it sees, itself included, and never more than 1/CONNECTION_SHARDS of it each
 * (one new event's shards start together and may not see each other yet). So the first event of an
 * idle account starts at B ÷ 16 a shard, not at a trickle.
 */
export function newcomerShare(
  policy: BudgetPolicy,
  registrations: readonly BudgetRegistration[],
  self: Self,
  now: number,
): number {
  const live = [...liveOnes(policy, registrations, self, now).values()];
  const settled = live.filter((r) => now - r.since >= policy.settleMs);
  const share = cutter(policy, settled);
  let used = 0;
  for (const r of settled) used += share(r.rows);
  const free = Math.max(policy.budget * policy.newcomerReserve, policy.budget - used);
  // Newcomers with no rows take nothing from the others (an empty shard of a new event).
  const newcomers = live.filter((r) => now - r.since < policy.settleMs && (r.rows > 0 || r.key === self.key)).length;
  return down(free / Math.max(CONNECTION_SHARDS, newcomers));
}

/**
 * A worker's allotted rate over time. While it is a newcomer (younger than `settleMs`): the
 * newcomers' share, or its settled share if less. Then the least of the settled shares it computed
 * within the last `settleMs` (and of the one in force just before), so a rise waits until every
 * other worker has read the ledger and taken its cut, while a fall applies at once.
 */
export class BudgetShare {
  private readonly history: { at: number; share: number }[] = [];
  private newcomer: number;
  private lastReadAt: number;

  constructor(
    private readonly policy: BudgetPolicy,
    private readonly startedAt: number,
  ) {
    // Before its first read it knows nothing of the others: the reserve's share.
    this.newcomer = down((policy.budget * policy.newcomerReserve) / CONNECTION_SHARDS);
    this.lastReadAt = startedAt;
  }

  /**
   * Notes the shares computed from a read of the ledger made at `now`; returns the rate to use.
   * `settled` is undefined while the worker has not read its rows yet: a share of 0 rows is the
   * floor, and recording it would hold the worker there for `settleMs` (rises wait that long).
   */
  update(settled: number | undefined, now: number, newcomer = this.newcomer): number {
    if (settled !== undefined) this.history.push({ at: now, share: settled });
    this.newcomer = newcomer;
    this.lastReadAt = now;
    return this.rate(now);
  }

  /** The rate to use at `now`. */
  rate(now: number): number {
    // Forget what no longer matters: everything before the last share computed at or before the window's start.
    const start = now - this.policy.settleMs;
    let firstKept = 0;
    for (let i = 0; i < this.history.length; i++) if ((this.history[i]?.at ?? Infinity) <= start) firstKept = i;
    this.history.splice(0, firstKept);
    // Without a read for expiryMs the others have forgotten this worker (its registration expired)
    // and may have taken its share: the floor. Before that it keeps the share it had (no rise): a
    // ledger slow or failing for a few seconds must not stop delivery (at the floor, a 62-row shard
    // took 31 s a sweep when DynamoDB Local timed out a fifth of the refreshes), and 429s still
    // slow it down (AIMD) if the account is over.
    if (now - this.lastReadAt > this.policy.expiryMs) return down(this.policy.floorPerWorker);
    let least = now - this.startedAt < this.policy.settleMs ? this.newcomer : Infinity;
    for (const h of this.history) least = Math.min(least, h.share);
    // Settled, yet never a settled share (its rows still unread): the floor, not the whole budget.
    return least === Infinity ? down(this.policy.floorPerWorker) : least;
  }
}

/**
 * A worker's side of the ledger: registers its shard's rows every `refreshMs`, reads every
 * registration, and tells the worker its rate. Store failures are logged and the worker keeps its
 * rate (down to the floor after `settleMs` without a read); they never stop delivery.
 */
export class BudgetLedger {
  private share: BudgetShare;
  private since: number;
  private rows = 0;
  private rowsKnown = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(
    private readonly store: BudgetLedgerStore,
    private readonly policy: BudgetPolicy,
    private readonly key: string,
    private readonly owner: string,
    private readonly now: Clock,
    private readonly onRate: (rate: number) => void,
    private readonly log?: Logger,
  ) {
    this.since = now();
    this.share = new BudgetShare(policy, this.since);
  }

  /**
   * The worker read its shard's rows: the first count is registered at once, later ones at the next
   * refresh. A shard's first rows after none make the worker a newcomer again: it held no share (an
   * empty shard reserves nothing), and the newcomers' reserve serves its first viewer at once
   * rather than after settleMs.
   */
  noteRows(rows: number): void {
    const wasEmpty = this.rowsKnown && this.rows === 0;
    this.rows = rows;
    if (!this.rowsKnown || (wasEmpty && rows > 0)) {
      if (this.rowsKnown) {
        this.since = this.now();
        this.share = new BudgetShare(this.policy, this.since);
        this.onRate(this.share.rate(this.since));
      }
      this.rowsKnown = true;
      if (this.timer) this.schedule(0);
    }
  }

  /** Registers and reads once; returns the rate to use. */
  async refresh(): Promise<number> {
    const now = this.now();
    const self = { key: this.key, rows: this.rows, since: this.since };
    // Taken with `self`: the rows may become known while this refresh awaits the store, and a share
    // of the 0 rows registered would hold the worker at the floor for settleMs.
    const rowsKnown = this.rowsKnown;
    try {
      await this.store.register({ ...self, owner: this.owner, beatAt: now }, now + this.policy.expiryMs);
      const all = await this.store.registrations();
      this.share.update(
        rowsKnown ? allot(this.policy, all, self, now) : undefined,
        now,
        newcomerShare(this.policy, all, self, now),
      );
    } catch (err) {
      this.log?.warn('could not refresh the delivery budget ledger', { key: this.key, error: String(err) });
    }
    const rate = this.share.rate(this.now());
    this.onRate(rate);
    return rate;
  }

  /** Starts registering (again: after a stop the others forgot it, so it is a newcomer once more). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.since = this.now();
    this.share = new BudgetShare(this.policy, this.since);
    this.onRate(this.share.rate(this.since));
    this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.running.then(async () => {
        if (this.stopped) return;
        await this.refresh();
        if (!this.stopped) this.schedule(this.policy.refreshMs);
      });
    }, ms);
  }

  /** Stops refreshing and takes the registration out, so its share returns to the others at their next read. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.store.deregister(this.key, this.owner).catch((err: unknown) => {
      this.log?.warn('could not take a delivery worker off the budget ledger (it expires)', {
        key: this.key,
        error: String(err),
      });
    });
  }
}
