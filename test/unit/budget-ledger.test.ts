// The account-wide @connections budget: shares follow audiences, newcomers and the dead, Σ ≤ B always
// (fake clock); and delivery workers of two events that together stay within B (real worker, fakes).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import {
  allot,
  BudgetLedger,
  BudgetShare,
  defaultBudgetPolicy,
  newcomerShare,
  type BudgetPolicy,
} from '../../shared/domain/delivery/budget-ledger';
import { Pacer } from '../../shared/domain/delivery/pacer';
import { defaultWorkerOptions, runDeliveryWorker, type WorkerOptions } from '../../shared/domain/delivery/worker';
import { LiveService, type Caller } from '../../shared/domain/live-service';
import type { BudgetRegistration } from '../../shared/domain/ports';
import {
  FakeBudgetLedger,
  FakeConnections,
  FakeEntries,
  FakeEvents,
  FakeGateway,
  FakeLeases,
  eventRecord,
  fixedClock,
  silentLog,
} from '../support/fakes';
import { prng } from '../support/prng';

const B = 10_000;
const policy: BudgetPolicy = { ...defaultBudgetPolicy, budget: B };
const reg = (key: string, rows: number, beatAt = 0, since = -60_000): BudgetRegistration => ({
  key,
  owner: `o-${key}`,
  rows,
  beatAt,
  since,
});

describe('a worker’s share of the account’s budget', () => {
  it('follows the audiences of every event, and an event with no viewers reserves nothing', () => {
    // Four events (10,000 + 3,000 + 1,000 + 100 viewers, one shard each here) and 20 reporter-only events.
    const all = [
      reg('big#0', 10_000),
      reg('mid#0', 3_000),
      reg('small#0', 1_000),
      reg('tiny#0', 100),
      ...Array.from({ length: 20 }, (_, i) => reg(`empty${i}#0`, 0)),
    ];
    const shares = new Map(all.map((r) => [r.key, allot(policy, all, r, 0)]));
    const pool = B * (1 - policy.newcomerReserve);
    const spread = pool - policy.floorPerWorker * 4; // the four shards with viewers keep a floor each
    expect(shares.get('big#0')).toBeCloseTo(policy.floorPerWorker + (spread * 10_000) / 14_100, 2);
    expect(shares.get('mid#0')).toBeCloseTo(policy.floorPerWorker + (spread * 3_000) / 14_100, 2);
    expect(shares.get('empty0#0')).toBe(0);
    let sum = 0;
    for (const s of shares.values()) sum += s;
    expect(sum).toBeLessThanOrEqual(B);
    expect(sum).toBeGreaterThan(pool - 1); // nothing wasted but the rounding
  });

  it('rounds every share down to a thousandth, so shares that do not divide evenly never add up past B', () => {
    const small: BudgetPolicy = { ...policy, budget: 10, floorPerWorker: 0.5, newcomerReserve: 0 };
    const all = [reg('a#0', 1), reg('b#0', 1), reg('c#0', 1)];
    const shares = all.map((r) => allot(small, all, r, 0));
    expect(shares).toEqual([3.333, 3.333, 3.333]);
    expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(10);
  });

  it('shrinks the floor when there are more workers than the budget has floors for', () => {
    const tight: BudgetPolicy = { ...policy, budget: 100 };
    const all = Array.from({ length: 320 }, (_, i) => reg(`e${i >> 4}#${i % 16}`, i % 3));
    const sum = all.reduce((n, r) => n + allot(tight, all, r, 0), 0);
    expect(sum).toBeLessThanOrEqual(100);
    expect(allot(tight, all, all[1]!, 0)).toBeGreaterThan(0);
  });

  it('counts its own current rows even when the read does not hold its latest registration yet', () => {
    const all = [reg('a#0', 100), reg('b#0', 0)];
    expect(allot(policy, all, { key: 'b#0', rows: 100, since: 0 }, 0)).toBe(
      allot(policy, [reg('a#0', 100), reg('b#0', 100)], reg('b#0', 100), 0),
    );
  });

  it('runs a newcomer on the reserve, takes its share once the others have seen it, and falls at once', () => {
    let now = 0;
    const share = new BudgetShare(policy, now);
    const reserveEach = (B * policy.newcomerReserve) / 16;
    expect(share.rate(now)).toBe(reserveEach); // before its first read: one new event's 16 shards fit in the reserve
    const self = { key: 'new#0', rows: 500, since: 0 };
    const others = [reg('old#0', 5_000)];
    const settled = allot(policy, [...others, { ...self, owner: 'o', beatAt: 0 }], self, now);
    expect(settled).toBeGreaterThan(reserveEach);
    expect(share.update(settled, now, newcomerShare(policy, others, self, now))).toBe(reserveEach);
    now += policy.refreshMs;
    expect(share.update(settled, now, newcomerShare(policy, others, self, now))).toBe(reserveEach);
    now += policy.refreshMs; // past settleMs: every other worker has read the ledger and cut its own share
    expect(share.update(settled, now)).toBe(settled);
    // A bigger event arrives: the cut applies at the very next read.
    const cut = allot(policy, [...others, reg('bigger#0', 50_000, now, now)], { ...self, since: 0 }, now);
    now += policy.refreshMs;
    expect(share.update(cut, now)).toBe(cut);
    expect(cut).toBeLessThan(settled / 5);
  });

  it('starts the first event of an idle account at B ÷ 16 a shard, and splits what is free among the newcomers it sees', () => {
    const first = Array.from({ length: 16 }, (_, i) => reg(`first#${i}`, 100, 0, 0));
    expect(newcomerShare(policy, first, { key: 'first#0', rows: 100, since: 0 }, 100)).toBe(B / 16);
    // Four events starting together, seen by each other: 64 newcomers share B.
    const four = Array.from({ length: 64 }, (_, i) => reg(`n${i >> 4}#${i % 16}`, 10, 0, 0));
    expect(newcomerShare(policy, four, { key: 'n0#0', rows: 10, since: 0 }, 100)).toBe(156.25);
    // With a settled audience taking its shares, only the reserve is left for them.
    const busy = [...four, reg('old#0', 5_000)];
    expect(newcomerShare(policy, busy, { key: 'n0#0', rows: 10, since: 0 }, 100)).toBe(7.812); // 500 ÷ 64, rounded down
  });

  it('frees a dead worker’s share once its registration is older than the expiry', () => {
    const all = [reg('alive#0', 1_000, 0), reg('dead#0', 1_000, 0)];
    const self = { key: 'alive#0', rows: 1_000, since: -60_000 };
    expect(allot(policy, all, self, policy.expiryMs - 1)).toBeLessThan(B / 2);
    // The dead one never refreshed; the live one did.
    expect(allot(policy, [reg('alive#0', 1_000, policy.expiryMs), all[1]!], self, policy.expiryMs)).toBe(
      B * (1 - policy.newcomerReserve),
    );
  });

  it('is not held at the floor for settleMs by a refresh made before it had read its rows', async () => {
    // A worker registers at once when it starts, before its first read of the shard's rows: a share
    // computed from 0 rows is the floor (2/s), and a rise waits settleMs — 500 viewers waited ~5 s.
    let now = 0;
    const store = new FakeBudgetLedger();
    const rates: number[] = [];
    const ledger = new BudgetLedger(
      store,
      policy,
      'ev#0',
      'o',
      () => now,
      (rate) => rates.push(rate),
    );
    await ledger.refresh();
    expect(rates.at(-1)).toBeGreaterThan(policy.floorPerWorker);
    now += 50;
    ledger.noteRows(500);
    await ledger.refresh();
    // The first event of an idle account: B ÷ 16 a shard while a newcomer.
    expect(rates.at(-1)).toBe(B / 16);
  });

  it('is not held at the floor by a refresh during which it read its rows', async () => {
    // The rows became known while a refresh awaited the store: it registered 0 rows, and taking the
    // share of those 0 rows held the worker at 2/s for settleMs (seen on the local stage).
    const store = new FakeBudgetLedger();
    const rates: number[] = [];
    const ledger = new BudgetLedger(
      store,
      policy,
      'ev#0',
      'o',
      () => 0,
      (rate) => rates.push(rate),
    );
    const register = store.register.bind(store);
    store.register = async (registration, expiresAt) => {
      await register(registration, expiresAt);
      ledger.noteRows(500);
    };
    await ledger.refresh();
    expect(rates.at(-1)).toBe(B / 16);
  });

  it("serves the first viewer of an empty shard on the newcomers' reserve at once, not after settleMs", async () => {
    let now = 0;
    const store = new FakeBudgetLedger();
    await store.register(reg('busy#0', 50_000, 0, -60_000), 60_000);
    const rates: number[] = [];
    const ledger = new BudgetLedger(
      store,
      policy,
      'ev#0',
      'o',
      () => now,
      (rate) => rates.push(rate),
    );
    ledger.noteRows(0);
    await ledger.refresh();
    now = policy.settleMs + 1; // settled, serving nobody: it holds nothing
    await ledger.refresh();
    expect(rates.at(-1)).toBe(0);
    now += 100;
    ledger.noteRows(1); // a viewer joins
    // A newcomer again, at once: the reserve's share (B × 5% ÷ 16), not 0 until settleMs has passed…
    expect(rates.at(-1)).toBe((B * policy.newcomerReserve) / 16);
    await ledger.refresh();
    // …then the share of its one row (the floor and a sliver), there being less than the reserve's to take.
    const self = { key: 'ev#0', rows: 1, since: now };
    expect(rates.at(-1)).toBe(allot(policy, await store.registrations(), self, now));
    expect(rates.at(-1)).toBeGreaterThan(policy.floorPerWorker);
  });

  it('keeps its share through a few seconds without a read, and falls to the floor once the others have forgotten it', () => {
    const share = new BudgetShare(policy, 0);
    share.update(1_000, 0, 1_000);
    share.update(1_000, policy.settleMs);
    expect(share.rate(policy.settleMs)).toBe(1_000);
    // Past settleMs without a read (the floor here used to stop a busy shard): the share it had.
    expect(share.rate(2 * policy.settleMs + 1)).toBe(1_000);
    // Past expiryMs its registration has expired and the others may have taken its share.
    expect(share.rate(policy.settleMs + policy.expiryMs + 1)).toBe(policy.floorPerWorker);
  });
});

describe('the pacer under an allotted share', () => {
  it('backs off to a tenth of the share it was allotted, not of a fixed one, and keeps its backed-off fraction when re-allotted', () => {
    const pacer = new Pacer(
      625,
      62,
      () => 0,
      async () => {},
    ); // today's B ÷ 16 at B = 10,000
    pacer.allot(50);
    for (let i = 0; i < 50; i++) pacer.throttled();
    expect(pacer.rate).toBeCloseTo(5, 9); // 20 events × 16 workers at this floor: 1,600/s, not 20,000
    pacer.allot(100);
    expect(pacer.rate).toBeCloseTo(10, 9);
  });

  it('moves slots reserved at a slow rate up when a bigger share arrives', () => {
    const waits: number[] = [];
    const pacer = new Pacer(
      1,
      1,
      () => 0,
      async (ms) => void waits.push(ms),
      Infinity,
    );
    void pacer.take();
    void pacer.take();
    void pacer.take();
    expect(waits).toEqual([1_000, 2_000]);
    pacer.allot(100);
    void pacer.take();
    expect(waits.at(-1)).toBeCloseTo(30, 6); // the backlog of 3 slots at 100/s, not 3 s
  });

  it('wakes a post already waiting for its slot at the new rate (re-checked every 100 ms)', async () => {
    let now = 0;
    const pacer = new Pacer(
      1,
      1,
      () => now,
      async (ms) => void (now += ms),
      100,
    );
    void pacer.take();
    const waiting = pacer.take(); // its slot: 1 s away at 1/s; it sleeps 100 ms at a time
    pacer.allot(100); // at 100 ms: the remaining 900 ms of the slot become 9 ms
    await waiting;
    expect(now).toBeCloseTo(109, 6);
  });
});

describe('the pacer after a burst of 429s', () => {
  it('re-times the slots reserved at its floor when it recovers, so a recovered worker does not wait them out', async () => {
    // A shard allotted 12.5/s meets 429s at the start (floor 1.25/s) and reserves its sweep of 62
    // visits there: 50 s of slots. Kept at the rate of their take, the last waited 49 s after the
    // rate had recovered.
    vi.useFakeTimers();
    try {
      const t0 = Date.now();
      // The global setTimeout, which vi.useFakeTimers replaces: node:timers/promises' is not faked.
      const fakeSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
      const pacer = new Pacer(12.5, 1, Date.now, fakeSleep);
      for (let i = 0; i < 20; i++) pacer.throttled();
      let done = 0;
      const waits = Array.from({ length: 62 }, () => Promise.resolve(pacer.take()).then(() => void done++));
      await vi.advanceTimersByTimeAsync(2_000);
      // The 429s stop: a success brings it back (time-based recovery).
      pacer.succeeded();
      expect(pacer.rate).toBe(12.5);
      // What was left of 50 s of floor slots drains at 12.5/s: under 5 s more, not 48.
      await vi.advanceTimersByTimeAsync(5_000);
      expect(done).toBe(62);
      await Promise.all(waits);
      expect(Date.now() - t0).toBeLessThanOrEqual(7_000);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('every worker of every event together', () => {
  /**
   * 20 events × 16 shards, then late ones, audiences coming and going, workers dying (silently or
   * letting go), each refreshing on its own phase through the ledger store: at every 100 ms of the
   * fake clock, Σ of the live workers' allotted rates (the pacers' ceilings; their 10% floors are a
   * tenth of these) ≤ B. Today's fixed share (B ÷ 16 per worker, whatever the other events) gives
   * 20 × B here; without the settle delay on rises this run reaches 3.2 × B.
   */
  it('never offers more than B, whoever joins, leaves or dies, with the pacers’ 10% floor included', async () => {
    const random = prng(13);
    const store = new FakeBudgetLedger();
    let now = 0;
    interface W {
      key: string;
      owner: string;
      rows: number;
      ledger: BudgetLedger;
      pacer: Pacer;
      nextAt: number;
      alive: boolean;
    }
    const workers: W[] = [];
    const start = (key: string, rows: number) => {
      const pacer = new Pacer(
        B,
        B / 10,
        () => now,
        async () => {},
      );
      const owner = `o-${key}-${now}`;
      const ledger = new BudgetLedger(
        store,
        policy,
        key,
        owner,
        () => now,
        (rate) => pacer.allot(rate),
      );
      const w: W = { key, owner, rows, ledger, pacer, nextAt: now, alive: true };
      ledger.noteRows(rows);
      pacer.allot((B * policy.newcomerReserve) / 16); // what start() allots before the first read
      workers.push(w);
    };
    // 20 events starting one after another (one every settleMs: the others have seen an event's
    // shards before the next arrives), the biggest 10,000 viewers, several with a reporter only;
    // then now and then a late one.
    const audience = (e: number) => (e < 5 ? Math.floor(10_000 / (e + 1) / 16) : 0);
    let events = 0;
    let nextEventAt = 0;
    let worst = 0;
    for (let step = 0; step < 3_000; step++) {
      now += 100;
      if (now >= nextEventAt && (events < 20 || random() < 0.02)) {
        const e = events++;
        for (let s = 0; s < 16; s++) start(`ev${e}#${s}`, e < 20 ? audience(e) : Math.floor(random() * 300));
        nextEventAt = now + policy.settleMs;
      }
      for (const w of workers) {
        if (!w.alive || now < w.nextAt) continue;
        if (random() < 0.02) w.rows = Math.floor(random() * 2_000); // an audience arrives or leaves
        w.ledger.noteRows(w.rows);
        await w.ledger.refresh();
        w.nextAt = now + policy.refreshMs * (0.8 + 0.4 * random());
        // 429s and successes move the pacer between its allotted rate and a tenth of it.
        for (let i = 0; i < 5; i++) {
          if (random() < 0.5) w.pacer.throttled();
          else w.pacer.succeeded();
        }
      }
      if (random() < 0.01) {
        const w = workers[Math.floor(random() * workers.length)]!;
        if (w.alive) {
          w.alive = false; // dies without a word: its registration expires
          if (random() < 0.5) await store.deregister(w.key, w.owner); // …or lets go and takes it out
        }
      }
      let sum = 0;
      for (const w of workers) if (w.alive) sum += w.pacer.allotted;
      worst = Math.max(worst, sum);
      expect(sum).toBeLessThanOrEqual(B);
    }
    expect(worst).toBeGreaterThan(0.8 * B); // the budget is used, not hoarded
  });
});

describe('delivery workers of two events sharing one budget', () => {
  const BUDGET = 300;
  const fast: WorkerOptions = {
    ...defaultWorkerOptions,
    ratePerSecond: BUDGET,
    maxInFlight: 8,
    idleExitMs: 50,
    pollMs: 5,
    refreshEvery: 64,
  };
  const quick: BudgetPolicy = {
    budget: BUDGET,
    floorPerWorker: 2,
    newcomerReserve: 0.05,
    refreshMs: 50,
    expiryMs: 500,
    settleMs: 120,
  };

  it('post at most B per second together, and each at its audience’s share', async () => {
    const events = new FakeEvents();
    const entries = new FakeEntries(events);
    const connections = new FakeConnections(1, 5);
    const gateway = new FakeGateway();
    const posts: { at: number; connectionId: string }[] = [];
    const post = gateway.post.bind(gateway);
    gateway.post = async (connectionId, payload) => {
      const result = await post(connectionId, payload);
      if (result === 'ok') posts.push({ at: Date.now(), connectionId });
      return result;
    };
    const live = new LiveService({
      events,
      entries,
      changes: entries,
      gateway: new FakeGateway(),
      clock: fixedClock(),
      log: silentLog,
    });
    const audiences = { big: 300, small: 100 };
    for (const [eventId, viewers] of Object.entries(audiences)) {
      await events.create(eventRecord(eventId));
      for (let i = 0; i < viewers; i++)
        await connections.add({
          eventId,
          connectionId: `${eventId}-v${i}`,
          role: 'viewer',
          connectedAt: 't',
          fromChange: 0,
        });
      const reporter: Caller = { connectionId: `${eventId}-r`, eventId, role: 'reporter' };
      for (let n = 0; n < 3; n++)
        await live.publish(reporter, {
          action: 'publish',
          clientId: `${eventId}-${n}`,
          text: `update ${n}`,
          kind: 'text',
        });
    }
    const ledger = new FakeBudgetLedger();
    const deps = {
      changes: entries,
      connections,
      gateway,
      leases: new FakeLeases(),
      successor: { start: async () => {} },
      log: silentLog,
      now: Date.now,
      sleep,
      budget: { store: ledger, policy: quick },
    };

    await Promise.all(Object.keys(audiences).map((eventId) => runDeliveryWorker(eventId, 0, deps, fast)));

    // Every viewer had its (one, coalesced) message.
    expect(posts.length).toBe(audiences.big + audiences.small);
    // Combined rate over the run, one pacer burst each allowed: today each worker runs at the whole B.
    const span = (posts.at(-1)!.at - posts[0]!.at) / 1_000;
    expect(posts.length - 2 * (BUDGET / 10)).toBeLessThanOrEqual(BUDGET * span);
    // Shares follow audiences (300 : 100), so both events finish at about the same time; at equal
    // rates the small one would be done in a third of the big one's time.
    const lastOf = (eventId: string) =>
      posts.filter((p) => p.connectionId.startsWith(eventId)).at(-1)!.at - posts[0]!.at;
    expect(lastOf('small')).toBeGreaterThan(0.6 * lastOf('big'));
    expect(ledger.items.size).toBe(0); // both let go of their registrations
  });
});
