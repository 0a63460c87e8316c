// The delivery worker with fakes of its ports: exactly once, in order, under 429s, 410s and errors.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ChangeFeed } from '../../shared/domain/delivery/change-feed';
import { Pacer } from '../../shared/domain/delivery/pacer';
import { SharedChangeLog } from '../../shared/domain/delivery/shared-change-log';
import { wakeDelivery } from '../../shared/domain/delivery/wake';
import { defaultWorkerOptions, runDeliveryWorker, type WorkerOptions } from '../../shared/domain/delivery/worker';
import { LiveService, type Caller } from '../../shared/domain/live-service';
import {
  MAX_FRAME_BYTES,
  type Entry,
  type LiveFrame,
  type ServerFrame,
  type StatsFrame,
  type UpdateFrame,
} from '../../shared/domain/protocol';
import { shardOf } from '../../shared/domain/sharding';
import { HANDSHAKE_MAX_MS } from '../../shared/routes';
import { runVirtualCeremony } from '../support/virtual-ceremony';
import {
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

const SHARDS = 4;
const fast: WorkerOptions = {
  ...defaultWorkerOptions,
  ratePerSecond: 1_000_000,
  maxInFlight: 8,
  idleExitMs: 20,
  pollMs: 1,
  refreshEvery: 3,
};

async function world(viewers: number) {
  const events = new FakeEvents();
  const entries = new FakeEntries(events);
  const connections = new FakeConnections(SHARDS, 5);
  const gateway = new FakeGateway();
  const leases = new FakeLeases();
  const reporter: Caller = { connectionId: 'reporter', eventId: 'ev1', role: 'reporter' };
  const live = new LiveService({
    events,
    entries,
    changes: entries,
    gateway: new FakeGateway(),
    clock: fixedClock(),
    log: silentLog,
  });
  await events.create(eventRecord('ev1'));
  for (let i = 0; i < viewers; i++) {
    await connections.add({ eventId: 'ev1', connectionId: `v${i}`, role: 'viewer', connectedAt: 't', fromChange: 0 });
  }
  const started: number[] = [];
  const deps = {
    changes: entries,
    connections,
    gateway,
    leases,
    successor: { start: async (_e: string, shard: number) => void started.push(shard) },
    log: silentLog,
    now: Date.now,
    sleep,
  };
  const runAll = (opts: WorkerOptions = fast, random?: () => number) =>
    Promise.all(
      Array.from({ length: SHARDS }, (_, shard) =>
        runDeliveryWorker('ev1', shard, { ...deps, ...(random ? { random } : {}) }, opts),
      ),
    );
  let n = 0;
  const publish = (text = `update ${++n}`) =>
    live.publish(reporter, {
      action: 'publish',
      clientId: `c${n}-${text.length}-${Math.random()}`,
      text,
      kind: 'text',
    });
  return { events, entries, connections, gateway, leases, live, reporter, runAll, publish, deps, started };
}

const updates = (frames: ServerFrame[]) =>
  frames.filter((f): f is UpdateFrame => f.type === 'update').map((f) => `${f.entry.seq}.${f.entry.rev}`);

describe('delivery worker', () => {
  it('sends every connection every change exactly once and in order, through 429s and transient errors', async () => {
    const w = await world(40);
    const random = prng(7);
    w.gateway.throttle = () => random() < 0.3;
    w.gateway.flaky = () => random() < 0.05;
    for (let i = 0; i < 12; i++) await w.publish();
    await w.live.edit(w.reporter, { action: 'edit', clientId: 'e1', seq: 3, text: 'corrected' });
    await w.live.delete(w.reporter, { action: 'delete', clientId: 'd1', seq: 5 });

    const reports = await w.runAll({ ...fast, maxAttempts: 50 }, prng(11));

    const expected = (w.entries.changes.get('ev1') ?? []).map((c) => `${c.entry.seq}.${c.entry.rev}`);
    expect(expected).toHaveLength(14);
    for (let i = 0; i < 40; i++) expect(updates(w.gateway.framesOf(`v${i}`))).toEqual(expected);
    expect(w.gateway.throttled).toBeGreaterThan(0);
    expect(reports.reduce((s, r) => s + r.throttled, 0)).toBe(w.gateway.throttled);
    expect(reports.every((r) => r.outcome === 'idle' && r.abandoned === 0)).toBe(true);
  });

  it('coalesces what is pending into few messages, each under 32 KB, never dropping or reordering', async () => {
    const w = await world(3);
    for (let i = 0; i < 30; i++) await w.publish('鲇'.repeat(1500 + i)); // ~4.5 KB of UTF-8 each
    await w.runAll();
    for (let i = 0; i < 3; i++) {
      const messages = w.gateway.messages.get(`v${i}`) ?? [];
      expect(messages.length).toBeGreaterThan(1);
      expect(messages.length).toBeLessThan(30);
      for (const m of messages) expect(m.byteLength).toBeLessThanOrEqual(32 * 1024);
      expect(updates(w.gateway.framesOf(`v${i}`))).toEqual(Array.from({ length: 30 }, (_, k) => `${k + 1}.1`));
    }
  });

  it('lets go at once of a shard with no connections, and lingers idleExitMs on one with viewers', async () => {
    const w = await world(1);
    const shardOfViewer = shardOf('v0', SHARDS);
    await w.publish();
    const ended: number[] = [];
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: SHARDS }, (_, shard) =>
        runDeliveryWorker('ev1', shard, w.deps, { ...fast, idleExitMs: 1_500 }).then(
          () => (ended[shard] = Date.now() - t0),
        ),
      ),
    );
    expect(updates(w.gateway.framesOf('v0'))).toEqual(['1.1']);
    for (let shard = 0; shard < SHARDS; shard++) {
      if (shard === shardOfViewer) expect(ended[shard]).toBeGreaterThanOrEqual(1_500);
      else expect(ended[shard]).toBeLessThan(1_000);
    }
    // Every empty shard's lease was let go at the head: the next change wakes a worker that owes nothing older.
    for (const lease of w.leases.items.values()) expect(lease.cursor).toBe(1);
  });

  it('removes gone connections and keeps delivering to the rest', async () => {
    const w = await world(10);
    w.gateway.gone.add('v2');
    w.gateway.gone.add('v7');
    await w.publish();
    const reports = await w.runAll();
    expect(reports.reduce((s, r) => s + r.gone, 0)).toBe(2);
    expect([...w.connections.rows.keys()].sort()).toEqual(['v0', 'v1', 'v3', 'v4', 'v5', 'v6', 'v8', 'v9']);
    for (const id of w.connections.rows.keys()) expect(updates(w.gateway.framesOf(id))).toEqual(['1.1']);
  });

  it('gives a new connection only what changed after it connected', async () => {
    const w = await world(0);
    await w.publish();
    await w.publish();
    await w.connections.add({ eventId: 'ev1', connectionId: 'late', role: 'viewer', connectedAt: 't', fromChange: 2 });
    await w.publish();
    await w.runAll();
    expect(updates(w.gateway.framesOf('late'))).toEqual(['3.1']);
  });

  it('lets one worker per shard run, and a later worker carries on from where the last one stopped', async () => {
    const w = await world(8);
    await w.publish();
    const shard = shardOf('v0', SHARDS);
    await w.leases.acquire('ev1', shard, 'someone-else', 60_000);
    expect((await runDeliveryWorker('ev1', shard, w.deps, fast)).outcome).toBe('not-leader');
    await w.leases.release('ev1', shard, 'someone-else', 0);

    await w.runAll();
    await w.publish();
    await w.runAll();
    for (let i = 0; i < 8; i++) expect(updates(w.gateway.framesOf(`v${i}`))).toEqual(['1.1', '2.1']);
  });

  it('hands over to a successor when its time is up, without losing or repeating anything', async () => {
    const w = await world(6);
    for (let i = 0; i < 4; i++) await w.publish();
    const reports = await w.runAll({ ...fast, maxRunMs: 0 });
    expect(reports.map((r) => r.outcome)).toEqual(['handed-over', 'handed-over', 'handed-over', 'handed-over']);
    for (let i = 0; i < 6; i++) expect(updates(w.gateway.framesOf(`v${i}`))).toEqual(['1.1', '2.1', '3.1', '4.1']);
    // Nothing new since: no successor needed.
    expect(w.started).toEqual([]);
  });

  it('keeps its lease through a sweep that outlasts it, so no second worker joins in', async () => {
    const w = await world(60);
    await w.publish();
    const shard = shardOf('v0', SHARDS);
    const owed = [...w.connections.rows.keys()].filter((id) => shardOf(id, SHARDS) === shard).length;
    // At 20 posts/s a sweep of this shard takes owed × 50 ms (~750 ms); the lease lasts 200 ms.
    const run = runDeliveryWorker('ev1', shard, w.deps, { ...fast, ratePerSecond: 20, leaseTtlMs: 200 });
    let intruded = 0;
    let tries = 0;
    while (w.gateway.messages.size < owed - 2) {
      await sleep(20);
      tries++;
      if (await w.leases.acquire('ev1', shard, `intruder-${tries}`, 200)) intruded++;
    }
    expect(tries).toBeGreaterThan(5);
    const report = await run;
    expect(intruded).toBe(0);
    expect(report.outcome).toBe('idle');
  });

  it('reads the rows afresh before letting go, so a viewer that joined meanwhile is not left behind', async () => {
    const w = await world(2);
    await w.publish();
    const shard = shardOf('late-joiner', SHARDS);
    let n = 0;
    while (shardOf(`early-${n}`, SHARDS) !== shard) n++;
    const early = `early-${n}`;
    await w.connections.add({ eventId: 'ev1', connectionId: early, role: 'viewer', connectedAt: 't', fromChange: 0 });
    // Rows cached for ever: only the fresh read before letting go can find the late joiner.
    const run = runDeliveryWorker('ev1', shard, w.deps, { ...fast, rowsMaxAgeMs: 1e9, idleExitMs: 100 });
    while (w.gateway.framesOf(early).length === 0) await sleep(5);
    await w.connections.add({
      eventId: 'ev1',
      connectionId: 'late-joiner',
      role: 'viewer',
      connectedAt: 't',
      fromChange: 0,
    });
    expect((await run).outcome).toBe('idle');
    expect(updates(w.gateway.framesOf('late-joiner'))).toEqual(['1.1']);
  });

  it('asks the store itself after letting go, so a shared answer cannot hide a change that landed meanwhile', async () => {
    const w = await world(3);
    await w.publish();
    // Shared answers never expire here: polls never see change 2; only the check after the release can.
    const changes = new SharedChangeLog(w.entries, 1e9);
    const deps = { ...w.deps, changes };
    const runs = Promise.all(
      Array.from({ length: SHARDS }, (_, shard) => runDeliveryWorker('ev1', shard, deps, { ...fast, idleExitMs: 100 })),
    );
    while (['v0', 'v1', 'v2'].some((v) => w.gateway.framesOf(v).length === 0)) await sleep(5);
    await w.publish();
    const reports = await runs;
    expect(reports.every((r) => r.outcome === 'idle')).toBe(true);
    for (const v of ['v0', 'v1', 'v2']) expect(updates(w.gateway.framesOf(v))).toEqual(['1.1', '2.1']);
  });

  it('spaces out visits that would carry only stats, and still brings everyone the last counts', async () => {
    const w = await world(8);
    await w.publish();
    // 8 rows over 4 shards at 20 posts/s per worker: stats-only visits at most every max(200 ms, 2 s × rows ÷ 20).
    const opts: WorkerOptions = {
      ...fast,
      ratePerSecond: 20,
      idleExitMs: 300,
      statsMinIntervalMs: 200,
      rowsMaxAgeMs: 0,
    };
    const runs = w.runAll(opts);
    while (['v0', 'v7'].some((v) => updates(w.gateway.framesOf(v)).length === 0)) await sleep(5);
    // A storm's live counts: new stats every 20 ms for 600 ms.
    for (let n = 1; n <= 30; n++) {
      await w.entries.appendFrame('ev1', () => ({
        type: 'stats',
        eventId: 'ev1',
        viewers: 8,
        reposts: { '1': n * 10 },
        at: 't',
      }));
      await sleep(20);
    }
    await runs;
    for (let i = 0; i < 8; i++) {
      const messages = w.gateway.messages.get(`v${i}`) ?? [];
      const stats = w.gateway.framesOf(`v${i}`).filter((f): f is StatsFrame => f.type === 'stats');
      expect(stats.at(-1)?.reposts['1']).toBe(300); // the last counts arrive
      expect(messages.length).toBeLessThanOrEqual(1 + 5); // the update, then a stats visit at most every 200 ms, not 30
    }
  });

  describe('live counts on a budget: a viewer owed only counts is visited as often as the audience size allows', () => {
    /** Per viewer: messages with an update, messages with counts only, and the longest any stats line waited for its next message. */
    function tally(run: Awaited<ReturnType<typeof runVirtualCeremony>>, rows: number) {
      const stats = [...run.statsAt.values()].sort((a, b) => a - b);
      return Array.from({ length: rows }, (_, i) => {
        const got = run.received.get(`v${i}`) ?? [];
        let waited = 0;
        let k = 0;
        for (const s of stats) {
          while (k < got.length && got[k]!.at < s) k++;
          waited = Math.max(waited, (got[k]?.at ?? Infinity) - s);
        }
        return {
          updates: got.filter((m) => m.hasUpdate).length,
          countsOnly: got.filter((m) => !m.hasUpdate && m.hasStats).length,
          waited,
        };
      });
    }
    const every = (ms: number, from: number, until: number) =>
      Array.from({ length: Math.floor((until - from) / ms) + 1 }, (_, i) => from + i * ms);

    it('a 10,000-viewer ceremony (625 per shard, 7,000/s): counts cost no more messages than the updates, and are at most ~15 s old', async () => {
      // Six minutes of the ceremony in docs/cost.md: an update every 24 s, new counts every second.
      const rows = 625;
      const run = await runVirtualCeremony({
        rows,
        updates: every(24_000, 12_000, 360_000),
        stats: every(1_000, 1_000, 360_000),
        options: { ratePerSecond: 7_000 / 16 },
      });
      const per = tally(run, rows);
      for (const v of per) {
        expect(v.updates).toBe(15);
        // Each gap between updates (24 s) needs one counts visit to keep counts fresh, and the last counts go out: ≤ 2× the update messages.
        expect(v.countsOnly).toBeLessThanOrEqual(v.updates + 1);
        // 15 s between visits, plus a sweep of the shard (625 ÷ 437.5/s).
        expect(v.waited).toBeLessThanOrEqual(15_000 + 1_500);
      }
      expect(run.report.abandoned + run.report.throttled).toBe(0);
    }, 60_000);

    it('a small audience (20 per shard) still gets its counts within about a second', async () => {
      const rows = 20;
      const run = await runVirtualCeremony({
        rows,
        updates: every(24_000, 12_000, 120_000),
        stats: every(1_000, 1_000, 120_000),
        options: { ratePerSecond: 7_000 / 16 },
      });
      for (const v of tally(run, rows)) {
        expect(v.updates).toBe(5);
        expect(v.waited).toBeLessThanOrEqual(2_000);
      }
    }, 60_000);
  });

  it('brings every viewer every total of stats lines over the frame limit, in messages under it', async () => {
    const w = await world(6);
    await w.publish();
    const totals = (from: number, n: number, v: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [String(from + i), v]));
    // Two windows of a storm over thousands of entries, ~45 KB of totals each; the viewers are owed both at once.
    await w.entries.appendFrame('ev1', () => ({
      type: 'stats',
      eventId: 'ev1',
      viewers: 6,
      reposts: totals(1, 4_000, 3),
      at: 't1',
    }));
    await w.entries.appendFrame('ev1', () => ({
      type: 'stats',
      eventId: 'ev1',
      viewers: 6,
      reposts: totals(3_001, 4_000, 5),
      at: 't2',
    }));

    const reports = await w.runAll();

    expect(reports.every((r) => r.outcome === 'idle' && r.skipped === 0)).toBe(true);
    const want = { ...totals(1, 4_000, 3), ...totals(3_001, 4_000, 5) };
    for (let i = 0; i < 6; i++) {
      for (const m of w.gateway.messages.get(`v${i}`) ?? []) expect(m.byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      const held = w.gateway
        .framesOf(`v${i}`)
        .reduce<Record<string, number>>((h, f) => (f.type === 'stats' ? { ...h, ...f.reposts } : h), {});
      expect(held).toEqual(want);
    }
  });

  it('skips and counts a line it cannot send instead of failing every visit on it', async () => {
    const w = await world(6);
    await w.publish();
    const event = w.events.items.get('ev1')!;
    const tooBig: Entry = {
      seq: 99,
      rev: 1,
      kind: 'text',
      text: 'x'.repeat(40_000),
      pinned: false,
      deleted: false,
      createdAt: 't',
      updatedAt: 't',
      reposts: 0,
      images: [],
    };
    w.entries.changes.get('ev1')!.push({ changeNo: ++event.lastChange, entry: tooBig });
    await w.publish();
    // Last in the log: a connection owed nothing but a line that cannot be sent is brought past it.
    w.entries.frameLines.set('ev1', [
      { changeNo: ++event.lastChange, frame: { type: 'stats', eventId: 'ev1' } as LiveFrame },
    ]);

    const reports = await w.runAll();

    expect(reports.map((r) => r.outcome)).toEqual(['idle', 'idle', 'idle', 'idle']);
    for (let i = 0; i < 6; i++) expect(updates(w.gateway.framesOf(`v${i}`))).toEqual(['1.1', '2.1']);
    // Every shard's worker read both lines and counted each once.
    expect(reports.map((r) => r.skipped)).toEqual([2, 2, 2, 2]);
    expect(w.leases.items.size).toBe(SHARDS);
    for (const lease of w.leases.items.values()) expect(lease.cursor).toBe(4);
  });

  it('keeps a connection still in its handshake (410 while $connect runs) and delivers once it opens', async () => {
    const w = await world(2);
    await w.publish();
    const now = new Date().toISOString();
    await w.connections.add({
      eventId: 'ev1',
      connectionId: 'opening',
      role: 'viewer',
      connectedAt: now,
      fromChange: 0,
    });
    await w.connections.add({
      eventId: 'ev1',
      connectionId: 'left-long-ago',
      role: 'viewer',
      connectedAt: '2026-01-01T00:00:00Z',
      fromChange: 0,
    });
    w.gateway.gone.add('opening');
    w.gateway.gone.add('left-long-ago');
    setTimeout(() => w.gateway.gone.delete('opening'), 300); // API Gateway opens it
    await w.publish();
    const reports = await w.runAll({ ...fast, idleExitMs: 600 });
    expect(updates(w.gateway.framesOf('opening'))).toEqual(['1.1', '2.1']);
    expect(w.connections.rows.has('opening')).toBe(true);
    expect(w.connections.rows.has('left-long-ago')).toBe(false);
    expect(reports.reduce((n, r) => n + r.notYetOpen, 0)).toBeGreaterThan(0);
    expect(reports.reduce((n, r) => n + r.gone, 0)).toBe(1);
  });

  it('spaces out the retries to a phone that vanished in its handshake, and lets it go once the longest handshake is over', async () => {
    // No `$disconnect` yet for it: a fixed 250 ms retry posted to it every quarter second for the
    // whole grace (120 posts over the old 30 s), and kept the worker from resting meanwhile.
    const w = await world(1);
    await w.connections.add({
      eventId: 'ev1',
      connectionId: 'vanished',
      role: 'viewer',
      connectedAt: new Date().toISOString(),
      fromChange: 0,
    });
    w.gateway.gone.add('vanished');
    let tries = 0;
    const post = w.gateway.post.bind(w.gateway);
    w.gateway.post = async (connectionId, payload) => {
      if (connectionId === 'vanished') tries++;
      return post(connectionId, payload);
    };
    await w.publish();
    const reports = await w.runAll({ ...fast, connectGraceMs: 2_000, idleExitMs: 100 });
    expect(w.connections.rows.has('vanished')).toBe(false);
    expect(reports.reduce((n, r) => n + r.gone, 0)).toBe(1);
    // 0, 250, 750, 1,750 ms: four tries inside the 2 s grace (a fixed 250 ms made eight), then one that is gone.
    expect(tries).toBeLessThanOrEqual(5);
  });

  it('holds a 410 as "still in the handshake" exactly as long as the handshake can last (authorizer + $connect timeouts)', () => {
    expect(defaultWorkerOptions.connectGraceMs).toBe(HANDSHAKE_MAX_MS + 1_000);
  });

  describe("a viewer who joins at any point of a worker's life gets the next change in the sweep after it, not when the worker lets go", () => {
    // The rows are cached for ever and the worker lingers 5 s when idle: a joiner the worker only finds
    // by its last fresh read before letting go would wait those 5 s.
    const lingering: WorkerOptions = { ...fast, rowsMaxAgeMs: 1e9, idleExitMs: 5_000 };

    /** A connection id in `shard`, and one more that shares it. */
    function twoIn(shard: number): [string, string] {
      const ids: string[] = [];
      for (let n = 0; ids.length < 2; n++) if (shardOf(`viewer-${n}`, SHARDS) === shard) ids.push(`viewer-${n}`);
      return [ids[0]!, ids[1]!];
    }

    async function joinAndPublish(phase: 'first sweep' | 'idle polling' | 'hand-over', options: WorkerOptions) {
      const w = await world(0);
      const shard = 1;
      const [steady, late] = twoIn(shard);
      // The first sweep is slow (many viewers at 200 posts/s), so a join can land in the middle of it.
      const crowd: string[] = [];
      for (let n = 0; crowd.length < 30; n++) if (shardOf(`crowd-${n}`, SHARDS) === shard) crowd.push(`crowd-${n}`);
      for (const id of [steady, ...crowd])
        await w.connections.add({ eventId: 'ev1', connectionId: id, role: 'viewer', connectedAt: 't', fromChange: 0 });
      await w.publish();
      // Lambda's clock: the test ends the run (and its successors) once it has measured.
      let ended = false;
      const runs: Promise<unknown>[] = [];
      const deps = {
        ...w.deps,
        timeLeftMs: () => (ended ? 0 : 15 * 60_000),
        // A hand-over starts the successor as Lambda would; it runs as long as the test lets it.
        successor: {
          start: async (e: string, s: number) =>
            void runs.push(runDeliveryWorker(e, s, deps, { ...options, maxRunMs: 1e9 })),
        },
      };
      const rate = phase === 'first sweep' ? 200 : options.ratePerSecond;
      const run = runDeliveryWorker('ev1', shard, deps, { ...options, ratePerSecond: rate });
      if (phase === 'first sweep') while (w.gateway.framesOf(crowd[5]!).length === 0) await sleep(2);
      else
        while (w.gateway.framesOf(crowd.at(-1)!).length === 0 || w.gateway.framesOf(steady).length === 0)
          await sleep(2);
      // Joined now: owed everything after change 1.
      await w.connections.add({ eventId: 'ev1', connectionId: late, role: 'viewer', connectedAt: 't', fromChange: 1 });
      if (phase !== 'first sweep') await sleep(30); // the worker is polling, or has handed over
      await w.publish();
      const published = Date.now();
      // The Changes stream's wake-up: a shard whose worker has let go gets a new one.
      await wakeDelivery(['ev1'], { leases: w.leases, starter: deps.successor, log: silentLog }, [shard]);
      while (updates(w.gateway.framesOf(steady)).length < 2) await sleep(2);
      const steadyAt = Date.now() - published;
      while (updates(w.gateway.framesOf(late)).length < 1) await sleep(2);
      const lateAt = Date.now() - published;
      ended = true;
      const report = await run;
      await Promise.all(runs);
      return { w, late, steadyAt, lateAt, report, successors: runs.length };
    }

    it('joined during the first sweep', async () => {
      const { w, late, lateAt, steadyAt } = await joinAndPublish('first sweep', lingering);
      expect(updates(w.gateway.framesOf(late))).toEqual(['2.1']);
      expect(lateAt - steadyAt).toBeLessThan(2_000);
    });

    it('joined while the worker polls an idle shard', async () => {
      const { w, late, lateAt, steadyAt } = await joinAndPublish('idle polling', lingering);
      expect(updates(w.gateway.framesOf(late))).toEqual(['2.1']);
      expect(lateAt - steadyAt).toBeLessThan(2_000);
    });

    it('joined around a hand-over to the successor', async () => {
      const { w, late, lateAt, steadyAt, report, successors } = await joinAndPublish('hand-over', {
        ...lingering,
        maxRunMs: 20,
      });
      expect(report.outcome).toBe('handed-over');
      expect(successors).toBeGreaterThan(0);
      expect(updates(w.gateway.framesOf(late))).toEqual(['2.1']);
      expect(lateAt - steadyAt).toBeLessThan(2_000);
    });
  });

  it('rides out throttled store reads (change log, rows, lease) instead of dying with its lease held', async () => {
    const w = await world(12);
    const random = prng(5);
    const throttled = () =>
      Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), { name: 'ThrottlingException' });
    const changes = {
      changesAfter: async (...a: Parameters<typeof w.entries.changesAfter>) => {
        if (random() < 0.4) throw throttled();
        return w.entries.changesAfter(...a);
      },
    };
    const connections = Object.assign(Object.create(w.connections) as typeof w.connections, {
      listShard: (eventId: string, shard: number) => {
        if (random() < 0.4) throw throttled();
        return w.connections.listShard(eventId, shard);
      },
    });
    const leases = Object.assign(Object.create(w.leases) as typeof w.leases, {
      acquire: async (...a: Parameters<typeof w.leases.acquire>) => {
        if (random() < 0.4) throw throttled();
        return w.leases.acquire(...a);
      },
    });
    for (let i = 0; i < 5; i++) await w.publish();
    const deps = { ...w.deps, changes, connections, leases, random: prng(9) };
    const reports = await Promise.all(
      Array.from({ length: SHARDS }, (_, shard) => runDeliveryWorker('ev1', shard, deps, fast)),
    );
    expect(reports.map((r) => r.outcome)).toEqual(['idle', 'idle', 'idle', 'idle']);
    expect(reports.reduce((n, r) => n + r.storeRetries, 0)).toBeGreaterThan(0);
    for (let i = 0; i < 12; i++)
      expect(updates(w.gateway.framesOf(`v${i}`))).toEqual(['1.1', '2.1', '3.1', '4.1', '5.1']);
  });

  it('lets go of its lease at once when it fails, at a cursor every connection has, so the next worker loses nothing', async () => {
    const w = await world(6);
    const shard = shardOf('v0', SHARDS);
    await w.publish();
    await w.publish();
    // The first worker delivers changes 1–2, then every read of the log fails.
    let broken = false;
    const changes = {
      changesAfter: async (...a: Parameters<typeof w.entries.changesAfter>) => {
        if (broken) throw new Error('throttled');
        return w.entries.changesAfter(...a);
      },
    };
    const run = runDeliveryWorker(
      'ev1',
      shard,
      { ...w.deps, changes },
      { ...fast, idleExitMs: 60_000, maxStoreAttempts: 3 },
    );
    while (w.gateway.framesOf('v0').length === 0) await sleep(2);
    broken = true;
    await w.publish();
    await expect(run).rejects.toThrow('throttled');
    // Released, not held until the TTL; its cursor is where every connection it knew stood.
    expect(w.leases.items.get(`ev1#${shard}`)).toEqual({ cursor: 2 });
    const next = await runDeliveryWorker('ev1', shard, w.deps, fast);
    expect(next.outcome).toBe('idle');
    expect(updates(w.gateway.framesOf('v0'))).toEqual(['1.1', '2.1', '3.1']);
  });

  it('does not send again what another worker sent while it had let go, when it takes the lease back', async () => {
    const w = await world(4);
    const shard = shardOf('v0', SHARDS);
    await w.publish();
    // Between worker A's release and its check for news, a change lands and worker B delivers it
    // and lets go (A's check was slow: throttled, backing off). A then takes the lease back.
    let b: Promise<unknown> | undefined;
    const leases = Object.assign(Object.create(w.leases) as typeof w.leases, {
      release: async (...a: Parameters<typeof w.leases.release>) => {
        await w.leases.release(...a);
        if (b) return;
        await w.publish();
        b = runDeliveryWorker('ev1', shard, w.deps, fast);
        await b;
      },
    });
    const a = await runDeliveryWorker('ev1', shard, { ...w.deps, leases }, fast);
    expect(a.outcome).toBe('idle');
    expect(b).toBeDefined();
    expect(updates(w.gateway.framesOf('v0'))).toEqual(['1.1', '2.1']);
  });

  it('gives up on a connection that fails every time instead of running forever', async () => {
    const w = await world(3);
    w.gateway.failing.add('v1');
    await w.publish();
    const reports = await w.runAll({ ...fast, maxAttempts: 2, maxFailedVisits: 3 });
    expect(reports.reduce((s, r) => s + r.abandoned, 0)).toBe(1);
    expect(updates(w.gateway.framesOf('v0'))).toEqual(['1.1']);
  });
});

describe('SharedChangeLog', () => {
  function countingStore() {
    const calls: number[] = [];
    let fail = false;
    return {
      calls,
      failNext: () => (fail = true),
      store: {
        changesAfter: async (_e: string, after: number) => {
          calls.push(after);
          await sleep(1);
          if (fail) {
            fail = false;
            throw new Error('throttled');
          }
          return [{ changeNo: after + 1, entry: { seq: after + 1 } as never }];
        },
      },
    };
  }

  it('answers the same question asked within maxAgeMs with one read, and reads again after', async () => {
    let now = 0;
    const s = countingStore();
    const log = new SharedChangeLog(s.store, 50, () => now);
    const answers = await Promise.all([
      log.changesAfter('e', 4, 10),
      log.changesAfter('e', 4, 10),
      log.changesAfter('e', 4, 10),
    ]);
    expect(s.calls).toEqual([4]);
    expect(answers.every((a) => a === answers[0])).toBe(true);
    now = 49;
    await log.changesAfter('e', 4, 10);
    expect(s.calls).toEqual([4]);
    // Another question, or the same one once the answer is too old, goes to the store.
    await log.changesAfter('e', 5, 10);
    await log.changesAfter('other', 4, 10);
    now = 50;
    await log.changesAfter('e', 4, 10);
    expect(s.calls).toEqual([4, 5, 4, 4]);
  });

  it('always reads when asked for a fresh answer, and never keeps a failed read', async () => {
    const s = countingStore();
    const log = new SharedChangeLog(s.store, 1e9, () => 0);
    await log.changesAfter('e', 1, 10);
    await log.changesAfter('e', 1, 10, { fresh: true });
    expect(s.calls).toEqual([1, 1]);
    s.failNext();
    await expect(log.changesAfter('e', 2, 10)).rejects.toThrow('throttled');
    await expect(log.changesAfter('e', 2, 10)).resolves.toHaveLength(1);
    expect(s.calls).toEqual([1, 1, 2, 2]);
  });
});

describe('wakeDelivery', () => {
  it('starts a worker only on shards that have none', async () => {
    const leases = new FakeLeases();
    await leases.acquire('ev1', 1, 'busy', 60_000);
    const started: string[] = [];
    const count = await wakeDelivery(
      ['ev1', 'ev1'],
      { leases, starter: { start: async (e, s) => void started.push(`${e}#${s}`) }, log: silentLog },
      [0, 1, 2],
    );
    expect(count).toBe(2);
    expect(started.sort()).toEqual(['ev1#0', 'ev1#2']);
  });
});

describe('Pacer', () => {
  it('never lets more than burst + rate × elapsed through', async () => {
    let t = 0;
    const waits: number[] = [];
    const pacer = new Pacer(
      100,
      5,
      () => t,
      async (ms) => {
        waits.push(ms);
        t += ms;
      },
    );
    for (let i = 0; i < 105; i++) await pacer.take();
    // 100/s with a burst of 5: the 105th request goes out no earlier than 1 s after the first.
    expect(t).toBeGreaterThanOrEqual(990);
  });

  it('slows down on 429 and recovers on success, never above its rate', () => {
    const pacer = new Pacer(
      1000,
      10,
      () => 0,
      async () => {},
    );
    pacer.throttled();
    expect(pacer.rate).toBe(700);
    for (let i = 0; i < 1000; i++) pacer.succeeded();
    expect(pacer.rate).toBe(1000);
  });

  it('recovers from its floor within seconds at any rate, not after hundreds of successes', () => {
    // A shard allotted 8/s, backed off to its floor (0.8/s) by a burst of 429s at the start.
    let t = 0;
    const pacer = new Pacer(
      8,
      1,
      () => t,
      async () => {},
    );
    for (let i = 0; i < 20; i++) pacer.throttled();
    expect(pacer.rate).toBeCloseTo(0.8, 5);
    pacer.succeeded();
    // Successes at the rate it runs at, for 6 s of its clock.
    while (t < 6_000) {
      t += 1_000 / pacer.rate;
      pacer.succeeded();
    }
    expect(pacer.rate).toBe(8);
  });
});

describe('ChangeFeed', () => {
  it('reads older changes on demand and composes each cursor once', async () => {
    const w = await world(0);
    for (let i = 0; i < 5; i++) await w.publish();
    const feed = new ChangeFeed('ev1', w.entries);
    await feed.ensureFrom(3);
    expect(feed.head).toBe(5);
    await feed.ensureFrom(1);
    const messages = feed.messagesAfter(1);
    expect(messages).toBe(feed.messagesAfter(1));
    expect(messages.at(-1)?.through).toBe(5);
    const text = new TextDecoder().decode(messages[0]!.bytes);
    expect((JSON.parse(text) as { frames: UpdateFrame[] }).frames.map((f) => f.entry.seq)).toEqual([2, 3, 4, 5]);
  });

  it('carries stats and spike lines with the updates, and only the newest of the pending stats', async () => {
    const w = await world(0);
    const stats = (n: number) => () => ({
      type: 'stats' as const,
      eventId: 'ev1',
      viewers: n,
      reposts: { '1': n },
      at: 't',
    });
    await w.publish();
    await w.entries.appendFrame('ev1', stats(1));
    await w.publish();
    await w.entries.appendFrame('ev1', () => ({
      type: 'spike',
      eventId: 'ev1',
      startedAt: 1,
      endedAt: null,
      peakPerSecond: 90,
      baselinePerSecond: 2,
      total: 90,
      topSeq: 1,
    }));
    await w.entries.appendFrame('ev1', stats(2));
    await w.entries.appendFrame('ev1', stats(3));
    const feed = new ChangeFeed('ev1', w.entries);
    await feed.ensureFrom(0);
    expect(feed.head).toBe(6);
    const all = feed.messagesAfter(0);
    expect(all.at(-1)?.through).toBe(6);
    const frames = all.flatMap(
      (m) => (JSON.parse(new TextDecoder().decode(m.bytes)) as { frames: ServerFrame[] }).frames,
    );
    expect(
      frames.map((f) => (f.type === 'update' ? `u${f.entry.seq}` : f.type === 'stats' ? `s${f.viewers}` : f.type)),
    ).toEqual(['u1', 'u2', 'spike', 's3']);
    // A connection that had everything but the last stats gets just that.
    const last = feed.messagesAfter(5);
    expect(last).toHaveLength(1);
    expect(JSON.parse(new TextDecoder().decode(last[0]!.bytes))).toMatchObject({ type: 'stats', viewers: 3 });
  });
});
