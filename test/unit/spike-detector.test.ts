// The repost spike detector on synthetic per-second series.
import { describe, expect, it } from 'vitest';
import type { EventRecord, RepostStore } from '../../shared/domain/ports';
import type { LiveFrame } from '../../shared/domain/protocol';
import { judgeSeconds, sweepOpenSpikes } from '../../shared/domain/reposts/repost-tally';
import {
  defaultSpikeRules,
  detectSpikes,
  type DetectorState,
  initialDetectorState,
  type RepostSecond,
  type Spike,
  type SpikeEvent,
} from '../../shared/domain/reposts/spike-detector';

const T0 = 1_780_000_000_000;

/** A series of per-second counts, all on one seq unless `seqOf` says otherwise. */
function series(counts: readonly number[], seqOf: (i: number) => number = () => 1): RepostSecond[] {
  return counts.map((n, i) => ({ t: T0 + i * 1000, bySeq: n > 0 ? { [seqOf(i)]: n } : {} }));
}

function run(counts: readonly number[], seqOf?: (i: number) => number): SpikeEvent[] {
  return detectSpikes(initialDetectorState(), series(counts, seqOf)).events;
}

const repeat = (n: number, value: number | ((i: number) => number)) =>
  Array.from({ length: n }, (_, i) => (typeof value === 'number' ? value : value(i)));

describe('spike detector', () => {
  it('finds no spike in steady traffic, noisy or not', () => {
    expect(run(repeat(300, 50))).toEqual([]);
    // ±40% noise around 50/s (a fixed pattern, so the test is the same every run).
    expect(run(repeat(300, (i) => 50 + [-20, 15, -5, 20, -10, 5, 0, -15, 10, -20][i % 10]!))).toEqual([]);
  });

  it('finds no spike in slowly rising traffic', () => {
    // 20/s growing 3% a second for three minutes: to over 4,000/s, never sudden.
    expect(run(repeat(180, (i) => Math.round(20 * 1.03 ** i)))).toEqual([]);
  });

  it('never calls a handful of reposts a spike', () => {
    expect(run([...repeat(60, 0), 3, 0, 0, 5, ...repeat(30, 0), 19, ...repeat(10, 0)])).toEqual([]);
  });

  it('finds a sudden 10× wave, from its first second, with peak, baseline, total and the entry that drove it', () => {
    const counts = [...repeat(60, 30), 300, 320, 310, ...repeat(60, 30)];
    const events = run(counts, (i) => (i >= 60 && i < 63 ? 7 : 2));
    expect(events.map((e) => e.type)).toEqual(['started', 'ended']);
    const [started, ended] = events;
    expect(started!.spike).toMatchObject({ startedAt: T0 + 60_000, endedAt: null, peakPerSecond: 300, topSeq: 7 });
    expect(started!.spike.baselinePerSecond).toBeCloseTo(30, 0);
    // It ends where the quiet began (second 63), after three quiet seconds; the quiet is not counted.
    expect(ended!.spike).toMatchObject({
      startedAt: T0 + 60_000,
      endedAt: T0 + 63_000,
      peakPerSecond: 320,
      total: 930,
      topSeq: 7,
    });
  });

  it('finds the first wave of an event that had no reposts before it', () => {
    const events = run([...repeat(10, 0), 2_000, 5_000, 3_000, 500, 40, 10, 5, 0, 0, 0]);
    expect(events.map((e) => [e.type, e.spike.startedAt - T0, e.spike.endedAt && e.spike.endedAt - T0])).toEqual([
      ['started', 10_000, null],
      ['ended', 10_000, 14_000],
    ]);
    expect(events[1]!.spike).toMatchObject({ peakPerSecond: 5_000, total: 10_500, baselinePerSecond: 0 });
  });

  it('records two waves as two spikes', () => {
    const counts = [...repeat(30, 20), ...repeat(5, 250), ...repeat(40, 20), ...repeat(4, 400), ...repeat(30, 20)];
    const events = run(counts, (i) => (i < 50 ? 3 : 9));
    expect(events.map((e) => `${e.type}@${(e.spike.startedAt - T0) / 1000}`)).toEqual([
      'started@30',
      'ended@30',
      'started@75',
      'ended@75',
    ]);
    expect(events[1]!.spike).toMatchObject({ endedAt: T0 + 35_000, total: 1_250, topSeq: 3 });
    expect(events[3]!.spike).toMatchObject({ endedAt: T0 + 79_000, total: 1_600, topSeq: 9 });
  });

  it('keeps a spike open through a short lull, and counts the lull in it', () => {
    const events = run([...repeat(20, 10), 200, 200, 20, 20, 200, ...repeat(10, 10)]);
    expect(events.map((e) => e.type)).toEqual(['started', 'ended']);
    expect(events[1]!.spike).toMatchObject({ startedAt: T0 + 20_000, endedAt: T0 + 25_000, total: 640 });
  });

  it('gives the same answer fed second by second, in any chunks, across saved states', () => {
    const counts = [...repeat(30, 20), ...repeat(5, 250), ...repeat(40, 20), ...repeat(4, 400), ...repeat(30, 20)];
    const whole = run(counts);
    let state = initialDetectorState();
    const events: SpikeEvent[] = [];
    const all = series(counts);
    for (let i = 0; i < all.length; i += 7) {
      const r = detectSpikes(JSON.parse(JSON.stringify(state)), all.slice(i, i + 7));
      state = r.state;
      events.push(...r.events);
    }
    expect(events).toEqual(whole);
    // A second already judged is not judged again.
    expect(detectSpikes(state, all.slice(-3)).events).toEqual([]);
  });

  it('judges the seconds nobody reposted in as zeros, so a spike ends across a silence', () => {
    const seconds = [...series([...repeat(20, 10), 300]), { t: T0 + 3_600_000, bySeq: { '1': 10 } }];
    const { events, state } = detectSpikes(initialDetectorState(), seconds);
    expect(events.map((e) => e.type)).toEqual(['started', 'ended']);
    expect(events[1]!.spike.endedAt).toBe(T0 + 21_000);
    expect(state.lastSecond).toBe(T0 + 3_600_000);
    expect(defaultSpikeRules.minPerSecond).toBeGreaterThan(3);
  });
});

describe('judging the seconds of a stored series', () => {
  /** The parts of a RepostStore the detector uses, in memory. */
  function store(secondsByT: Map<number, Record<string, number>>) {
    let saved: { state: DetectorState; version: number } = { state: initialDetectorState(), version: 0 };
    const spikes = new Map<number, Spike>();
    const watched = new Set<string>();
    const reposts: Pick<
      RepostStore,
      | 'seconds'
      | 'detector'
      | 'saveDetector'
      | 'spikes'
      | 'watchOpenSpike'
      | 'unwatchOpenSpike'
      | 'eventsWithOpenSpikes'
    > = {
      watchOpenSpike: async (e) => void watched.add(e),
      unwatchOpenSpike: async (e) => void watched.delete(e),
      eventsWithOpenSpikes: async () => [...watched],
      seconds: async (_e, after = -1) =>
        [...secondsByT]
          .filter(([t]) => t > after)
          .sort(([a], [b]) => a - b)
          .map(([t, bySeq]) => ({ t, bySeq })),
      detector: async () => structuredClone(saved),
      saveDetector: async (_e, version, state, list) => {
        if (version !== saved.version) return false;
        saved = { state: structuredClone(state), version: version + 1 };
        for (const s of list) spikes.set(s.startedAt, { ...s });
        return true;
      },
      spikes: async () => [...spikes.values()],
    };
    const announced: LiveFrame[] = [];
    const entries = {
      appendFrame: async (_e: string, build: (event: EventRecord) => LiveFrame) => {
        announced.push(build({} as EventRecord));
        return { appended: true as const, changeNo: announced.length };
      },
    };
    return { reposts: reposts as RepostStore, entries, spikes, announced, saved: () => saved, watched };
  }

  it('records a spike while its first second is still going on, then rewrites it with the whole second and its end', async () => {
    const series = new Map<number, Record<string, number>>();
    for (let i = 0; i < 30; i++) series.set(T0 + i * 1000, { '1': 5 });
    const s = store(series);
    const deps = {
      reposts: s.reposts,
      entries: s.entries,
      now: () => T0 + 40_000,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    };
    await judgeSeconds('e', deps, T0 + 29_000);
    expect(s.spikes.size).toBe(0);
    // 120 reposts so far in second 30, the storm's first: a spike now, not when the second is over.
    series.set(T0 + 30_000, { '4': 120 });
    const early = await judgeSeconds('e', deps, T0 + 29_000);
    expect(early.open).toBe(true);
    expect([...s.spikes.values()]).toEqual([
      expect.objectContaining({ startedAt: T0 + 30_000, endedAt: null, total: 120, topSeq: 4 }),
    ]);
    expect(s.saved().state.lastSecond).toBe(T0 + 29_000); // the detector itself has not judged second 30 yet
    // The second ends with 900; three quiet seconds follow.
    series.set(T0 + 30_000, { '4': 900 });
    for (let i = 31; i < 35; i++) series.set(T0 + i * 1000, { '1': 5 });
    await judgeSeconds('e', deps, T0 + 34_000);
    expect([...s.spikes.values()]).toEqual([
      expect.objectContaining({
        startedAt: T0 + 30_000,
        endedAt: T0 + 31_000,
        total: 900,
        peakPerSecond: 900,
        topSeq: 4,
      }),
    ]);
    // Announced to viewers once, when it started, though it was judged three times.
    expect(s.announced).toEqual([
      expect.objectContaining({ type: 'spike', eventId: 'e', startedAt: T0 + 30_000, endedAt: null, total: 120 }),
    ]);
  });

  it('records nothing early for a second that does not reach the bar', async () => {
    const series = new Map<number, Record<string, number>>([[T0, { '1': 19 }]]);
    const s = store(series);
    const deps = {
      reposts: s.reposts,
      entries: s.entries,
      now: () => T0 + 1_000,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    };
    expect((await judgeSeconds('e', deps, T0 - 1000)).open).toBe(false);
    expect(s.spikes.size).toBe(0);
    expect(s.announced).toEqual([]);
  });

  it('the sweep ends a spike whose wave passed with nothing after it, then stops watching the event', async () => {
    const series = new Map<number, Record<string, number>>();
    for (let i = 0; i < 30; i++) series.set(T0 + i * 1000, { '1': 5 });
    series.set(T0 + 30_000, { '2': 600 });
    series.set(T0 + 31_000, { '2': 400 });
    const s = store(series);
    let now = T0 + 31_500;
    const deps = {
      reposts: s.reposts,
      entries: s.entries,
      now: () => now,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    };
    // The tally judged as the storm came in: the spike started, the event is on the watch list.
    await judgeSeconds('e', deps, T0 + 29_000);
    expect(s.watched).toEqual(new Set(['e']));
    expect([...s.spikes.values()][0]?.endedAt).toBeNull();
    // No repost and no read after the wave. Over a minute later the sweep judges the silent seconds.
    now = T0 + 92_000;
    expect(await sweepOpenSpikes(deps)).toEqual({ judged: 1, ended: 1 });
    expect([...s.spikes.values()]).toEqual([
      expect.objectContaining({ startedAt: T0 + 30_000, endedAt: T0 + 32_000, total: 1000, topSeq: 2 }),
    ]);
    expect(s.watched.size).toBe(0);
    expect(await sweepOpenSpikes(deps)).toEqual({ judged: 0, ended: 0 });
  });

  it('the sweep leaves an event alone while its reposts are recent (the tally judges those), and keeps watching it', async () => {
    const series = new Map<number, Record<string, number>>();
    for (let i = 0; i < 30; i++) series.set(T0 + i * 1000, { '1': 5 });
    for (let i = 30; i < 40; i++) series.set(T0 + i * 1000, { '2': 500 });
    const s = store(series);
    const deps = {
      reposts: s.reposts,
      entries: s.entries,
      now: () => T0 + 40_500,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    };
    await judgeSeconds('e', deps, T0 + 29_000);
    expect(await sweepOpenSpikes(deps)).toEqual({ judged: 0, ended: 0 });
    expect(s.watched).toEqual(new Set(['e']));
    expect([...s.spikes.values()][0]?.endedAt).toBeNull();
  });
});
