// The tally, the reads and the sweep judging one event's spikes in turn and at once: the orders that
// left a spike open in the table for good (the flaky "255 of 300 counted"), replayed with a clock
// the test moves and a store that lets another writer in at a chosen step.
import { describe, expect, it } from 'vitest';
import type { EventRecord, RepostStore, StreamedRepost } from '../../shared/domain/ports';
import type { LiveFrame } from '../../shared/domain/protocol';
import { judgeSeconds, RepostTally, sweepOpenSpikes, type TallyDeps } from '../../shared/domain/reposts/repost-tally';
import { type DetectorState, initialDetectorState, type Spike } from '../../shared/domain/reposts/spike-detector';
import { StatsPublisher } from '../../shared/domain/stats-publisher';
import { silentLog } from '../support/fakes';

/** A second's start, far from any real clock. */
const X = 1_780_000_000_000;
const QUIET_MS = 5_000;

type Hooked = 'saveDetector' | 'unwatchOpenSpike';

/**
 * The RepostStore as DynamoDB keeps it, in memory: counters per second and seq, the detector's
 * state under an optimistic version, the spike rows, the watch list. `seconds(after)` answers as the
 * adapter's key range does: seconds from `after + 1000` on. `before[m]` runs once, just before the
 * next call of m changes anything: another writer getting in at that step.
 */
function memoryStore() {
  const seconds = new Map<number, Record<string, number>>();
  const totals = new Map<number, number>();
  let saved: { state: DetectorState; version: number } = { state: initialDetectorState(), version: 0 };
  const spikes = new Map<number, Spike>();
  const watched = new Set<string>();
  const before: Partial<Record<Hooked, () => Promise<void>>> = {};
  const hook = async (m: Hooked) => {
    const run = before[m];
    delete before[m];
    await run?.();
  };
  const reposts: RepostStore = {
    add: async () => 'counted',
    tally: async (_e, batch) => {
      for (const r of batch) {
        const t = Math.floor(r.at / 1000) * 1000;
        const bySeq = seconds.get(t) ?? {};
        bySeq[r.seq] = (bySeq[r.seq] ?? 0) + 1;
        seconds.set(t, bySeq);
        totals.set(r.seq, (totals.get(r.seq) ?? 0) + 1);
      }
      return batch.length;
    },
    totals: async (_e, from, to) => new Map([...totals].filter(([s]) => s >= from && s <= to)),
    seconds: async (_e, after = -1) =>
      [...seconds]
        .filter(([t]) => after < 0 || t >= after + 1000)
        .sort(([a], [b]) => a - b)
        .map(([t, bySeq]) => ({ t, bySeq: { ...bySeq } })),
    detector: async () => structuredClone(saved),
    saveDetector: async (_e, version, state, list) => {
      await hook('saveDetector');
      if (version !== saved.version) return false;
      saved = { state: structuredClone(state), version: version + 1 };
      for (const s of list) spikes.set(s.startedAt, { ...s });
      return true;
    },
    spikes: async () => [...spikes.values()].sort((a, b) => a.startedAt - b.startedAt),
    watchOpenSpike: async (e) => void watched.add(e),
    unwatchOpenSpike: async (e) => {
      await hook('unwatchOpenSpike');
      watched.delete(e);
    },
    eventsWithOpenSpikes: async () => [...watched],
  };
  const frames: LiveFrame[] = [];
  const entries: TallyDeps['entries'] = {
    appendFrame: async (_e: string, build: (event: EventRecord) => LiveFrame) => {
      frames.push(build({} as EventRecord));
      return { appended: true as const, changeNo: frames.length };
    },
  };
  return { reposts, entries, seconds, spikes, watched, before, frames, saved: () => saved };
}

function setup() {
  const s = memoryStore();
  const clock = { now: X };
  const deps: TallyDeps = {
    reposts: s.reposts,
    entries: s.entries,
    now: () => clock.now,
    log: silentLog,
  };
  const stats = new StatsPublisher({ ...deps, viewers: { count: async () => 0 } });
  return { ...s, clock, deps, tally: new RepostTally(deps, stats) };
}

let nextEvent = 0;
/** Every test its own event id (its tally, from setup, has fresh hints too). */
const newEventId = () => `ev-sweep-${++nextEvent}`;

let sequence = 0;
/** `count` reposts of `seq`, stamped evenly from `fromAt` to `toAt`, as the stream hands them over. */
function burst(eventId: string, count: number, fromAt: number, toAt: number, seq = 1): StreamedRepost[] {
  return Array.from({ length: count }, (_, i) => ({
    eventId,
    seq,
    connectionId: `c${++sequence}`,
    at: Math.round(fromAt + ((toAt - fromAt) * i) / Math.max(1, count - 1)),
    sequence: String(++sequence),
  }));
}

/** The scheduled sweep, once a second from `from` to `to` (the integration test's LIVECAST_SPIKE_SWEEP_QUIET_MS=5000). */
async function sweepEverySecond(t: ReturnType<typeof setup>, from: number, to: number): Promise<void> {
  for (t.clock.now = from; t.clock.now <= to; t.clock.now += 1000) await sweepOpenSpikes(t.deps, QUIET_MS);
}

/** Where in the second the sweep's timer fires: it has no reason to fire on a second's start. */
const PHASES = [0, 250, 500, 750];

describe('a spike recorded early (its first second still going on) and the sweep', () => {
  it.each(PHASES)(
    'ends it with its whole total when the storm fits in that one second and nothing comes after (sweep at +%i ms)',
    async (phase) => {
      // The flaky integration run: 300 reposts all stamped within second X; the tally's first batch
      // holds 255 of them, the second the other 45; then no repost and no read.
      const t = setup();
      const e = newEventId();
      const storm = burst(e, 300, X + 50, X + 800);
      t.clock.now = X + 600;
      await t.tally.tally(e, storm.slice(0, 255));
      expect(await t.reposts.spikes(e)).toEqual([expect.objectContaining({ startedAt: X, total: 255, endedAt: null })]);
      expect(t.watched).toEqual(new Set([e]));
      t.clock.now = X + 900;
      await t.tally.tally(e, storm.slice(255));

      // The sweep runs every second from then on. Before second X is whole in its eyes (5 s after
      // it), the detector's state holds no spike: the spike was seen early and only the table has it.
      await sweepEverySecond(t, X + 1_000 + phase, X + 30_000);
      expect(await t.reposts.spikes(e)).toEqual([
        expect.objectContaining({ startedAt: X, endedAt: X + 1000, total: 300, peakPerSecond: 300, topSeq: 1 }),
      ]);
      expect(t.watched.size).toBe(0);
      expect(t.frames.filter((f) => f.type === 'spike')).toHaveLength(1);
    },
  );

  it.each(PHASES)(
    'ends it when the storm straddles a second boundary, the tally judging the first second whole (sweep at +%i ms)',
    async (phase) => {
      const t = setup();
      const e = newEventId();
      const storm = burst(e, 300, X + 500, X + 1_400);
      t.clock.now = X + 900;
      await t.tally.tally(
        e,
        storm.filter((r) => r.at < X + 1000),
      );
      t.clock.now = X + 1_500;
      await t.tally.tally(
        e,
        storm.filter((r) => r.at >= X + 1000),
      );
      await sweepEverySecond(t, X + 2_000 + phase, X + 30_000);
      expect(await t.reposts.spikes(e)).toEqual([
        expect.objectContaining({ startedAt: X, endedAt: expect.any(Number), total: 300 }),
      ]);
      expect(t.watched.size).toBe(0);
    },
  );
});

describe('the sweep and the judges around it', () => {
  it.each(PHASES)(
    'counts in an ended spike the reposts a tally more than 5 s behind counts only after the sweep ended it (sweep at +%i ms)',
    async (phase) => {
      // The storm's first 255 reposts are tallied at once; the other 45 (in the same second) wait in
      // a stalled stream until after the sweep, judging by the clock, has ended the spike.
      const t = setup();
      const e = newEventId();
      const storm = burst(e, 300, X + 50, X + 800);
      t.clock.now = X + 600;
      await t.tally.tally(e, storm.slice(0, 255));
      await sweepEverySecond(t, X + 1_000 + phase, X + 14_000);
      expect(await t.reposts.spikes(e)).toEqual([
        expect.objectContaining({ startedAt: X, endedAt: X + 1000, total: 255 }),
      ]);
      t.clock.now = X + 14_500;
      await t.tally.tally(e, storm.slice(255));
      expect(await t.reposts.spikes(e)).toEqual([
        expect.objectContaining({ startedAt: X, endedAt: X + 1000, total: 300, peakPerSecond: 300 }),
      ]);
    },
  );

  it('with a quiet window shorter than the 5 s settle time, keeps watching an early spike it cannot judge yet', async () => {
    // LIVECAST_SPIKE_SWEEP_QUIET_MS=2000: the sweep comes while second X is not yet settled for it.
    const t = setup();
    const e = newEventId();
    t.clock.now = X + 900;
    await t.tally.tally(e, burst(e, 300, X + 50, X + 800));
    for (t.clock.now = X + 3_500; t.clock.now <= X + 30_000; t.clock.now += 1000) await sweepOpenSpikes(t.deps, 2_000);
    expect(await t.reposts.spikes(e)).toEqual([
      expect.objectContaining({ startedAt: X, endedAt: X + 1000, total: 300 }),
    ]);
    expect(t.watched.size).toBe(0);
  });

  it("a judgement that stops short of an early spike's second reports the spike open", async () => {
    const t = setup();
    const e = newEventId();
    t.clock.now = X + 900;
    await t.tally.tally(e, burst(e, 300, X + 50, X + 800));
    // A read 4.5 s later judges the seconds that ended 5 s ago: not yet second X.
    t.clock.now = X + 4_500;
    expect(await judgeSeconds(e, t.deps)).toMatchObject({ open: true });
  });

  it('leaves an event alone while its last repost is less than the quiet window old', async () => {
    const t = setup();
    const e = newEventId();
    t.clock.now = X + 950;
    await t.tally.tally(e, burst(e, 300, X + 100, X + 900));
    // The last repost came at X+900: 4.9 s ago.
    t.clock.now = X + 5_800;
    expect(await sweepOpenSpikes(t.deps, QUIET_MS)).toEqual({ judged: 0, ended: 0 });
    t.clock.now = X + 6_000;
    expect((await sweepOpenSpikes(t.deps, QUIET_MS)).judged).toBe(1);
  });

  it("keeps watching an event whose new spike a tally saved between the sweep's judgement and its unwatch", async () => {
    const t = setup();
    const e = newEventId();
    // A first wave in second X, ended by the tally's own judgement as a trickle goes on; the event
    // stays on the watch list until the sweep comes.
    t.clock.now = X + 900;
    await t.tally.tally(e, burst(e, 300, X + 50, X + 800));
    for (let i = 1; i <= 5; i++) {
      t.clock.now = X + i * 1000 + 600;
      await t.tally.tally(e, burst(e, 1, X + i * 1000 + 500, X + i * 1000 + 500));
    }
    expect(await t.reposts.spikes(e)).toEqual([
      expect.objectContaining({ startedAt: X, endedAt: X + 1000, total: 300 }),
    ]);
    expect(t.watched).toEqual(new Set([e]));
    // A minute later the sweep judges the event (nothing open) and, just before it takes the
    // event off the list, a second storm's first batch is tallied: a spike starts and is watched.
    const Y = X + 60_000;
    t.clock.now = Y + 300;
    const second = burst(e, 300, Y + 50, Y + 250, 2);
    t.before.unwatchOpenSpike = async () => void (await t.tally.tally(e, second));
    await sweepOpenSpikes(t.deps, QUIET_MS);
    expect(await t.reposts.spikes(e)).toEqual([
      expect.objectContaining({ startedAt: X }),
      expect.objectContaining({ startedAt: Y, endedAt: null }),
    ]);
    // No repost and no read after it: only the sweep can end it.
    await sweepEverySecond(t, Y + 1_000, Y + 30_000);
    expect(await t.reposts.spikes(e)).toEqual([
      expect.objectContaining({ startedAt: X, endedAt: X + 1000, total: 300 }),
      expect.objectContaining({ startedAt: Y, endedAt: Y + 1000, total: 300, topSeq: 2 }),
    ]);
    expect(t.watched.size).toBe(0);
  });

  it("a tally whose save loses to a read's judgement judges again from it, and the spike it saw is recorded", async () => {
    const t = setup();
    const e = newEventId();
    // A trickle long ago, judged.
    t.clock.now = X - 39_500;
    await t.tally.tally(e, burst(e, 10, X - 42_000, X - 40_000));
    // The storm, in one batch; just before the tally saves its judgement, a GET /reposts judges
    // by the clock (the silent seconds up to 5 s ago) and saves first.
    const storm = burst(e, 300, X + 100, X + 1_300);
    t.clock.now = X + 1_500;
    t.before.saveDetector = async () => void (await judgeSeconds(e, t.deps));
    const { spikes } = await t.tally.tally(e, storm);
    expect(spikes).toEqual([expect.objectContaining({ startedAt: X, endedAt: null })]);
    expect(t.watched).toEqual(new Set([e]));
    await sweepEverySecond(t, X + 2_000, X + 30_000);
    expect(await t.reposts.spikes(e)).toEqual([
      expect.objectContaining({ startedAt: X, endedAt: expect.any(Number), total: 300 }),
    ]);
    expect(t.frames.filter((f) => f.type === 'spike')).toHaveLength(1);
  });
});
