// Repost spikes: a detector over the per-second repost rate of one event, with a learned baseline.
//
// The baseline is an exponentially weighted moving average of the per-second rate (alpha 0.1: it
// follows about the last ten seconds); during a spike it learns four times slower, so a wave does
// not raise its own bar but a new level that lasts becomes the normal. Rules:
// - a spike STARTS in the first second whose count reaches both `minPerSecond` (so three reposts
//   are never a spike) and `startFactor` × the baseline; during the first `warmupSeconds` the
//   detector judges, while it has no history, the bar is at least `startFactor` × `minPerSecond`;
//   and only if that second's reposts came from at least `minViewers` distinct viewers AND
//   `minSources` distinct networks (reposts/sources.ts): 150 scripted sockets on one host, with
//   as many viewer ids as they like, are one network and never a spike. A second that is loud
//   but not diverse still teaches the baseline (its reposts were counted);
// - it ENDS after `quietSeconds` seconds in a row below `endFactor` × the baseline or below
//   `minPerSecond`; `endedAt` is the start of the first of those quiet seconds;
// - while it lasts, it keeps its peak per second, its total, and which entry (seq) drew the most
//   reposts (`topSeq`).
// Slowly rising traffic never trips it: the baseline rises with it, and the rate stays within a
// small multiple of it. A sudden wave of ten times the baseline does.
// The detector's whole state is plain JSON, so a stateless function can keep it in a table.

export interface SpikeRules {
  /** EWMA weight of each new second, 0..1. */
  alpha: number;
  /** A second at or above startFactor × baseline (and minPerSecond) starts a spike. */
  startFactor: number;
  /** Below endFactor × the starting baseline (or below minPerSecond) counts as quiet. */
  endFactor: number;
  /** Reposts in a second below which nothing is ever a spike. */
  minPerSecond: number;
  /** Quiet seconds in a row that end a spike. */
  quietSeconds: number;
  /** Seconds judged before the baseline counts as learned. */
  warmupSeconds: number;
  /** Distinct viewers (viewer ids; addresses for clients without one) a starting second needs. */
  minViewers: number;
  /** Distinct networks (IPv4 /24, IPv6 /48) a starting second needs. */
  minSources: number;
}

/**
 * minViewers 20: the fewest reposts a spike can have in its first second anyway, each from someone
 * else. minSources 5: a venue crowd on one Wi-Fi address is one network, but some of its phones are
 * on mobile data (each carrier's NAT pool is networks of its own) and people follow from home: a
 * real wave reaches five networks within its first second; one host or one rented block does not.
 */
export const defaultSpikeRules: SpikeRules = {
  alpha: 0.1,
  startFactor: 4,
  endFactor: 2,
  minPerSecond: 20,
  quietSeconds: 3,
  warmupSeconds: 10,
  minViewers: 20,
  minSources: 5,
};

/** The most distinct viewers and networks a second remembers (the tally stops adding there): the rules cannot ask for more. */
export const MAX_DISTINCT_PER_SECOND = 64;

/** A spike as PROTOCOL.md shapes it; times in epoch ms. */
export interface Spike {
  startedAt: number;
  endedAt: number | null;
  peakPerSecond: number;
  baselinePerSecond: number;
  total: number;
  topSeq: number;
}

/** One second of reposts: when it began (epoch ms, a multiple of 1000) and its count per seq. */
export interface RepostSecond {
  t: number;
  bySeq: Record<string, number>;
  /**
   * Distinct viewers and networks its reposts came from, as far as counted (up to
   * MAX_DISTINCT_PER_SECOND). Absent for seconds tallied before sources were kept: not held against them.
   */
  viewers?: number;
  sources?: number;
}

export interface DetectorState {
  /** The learned rate, reposts per second. */
  baseline: number;
  /** The last second fed in (epoch ms); seconds are fed in order, gaps count as zero. */
  lastSecond: number | null;
  /** Seconds judged so far (counted up to the warm-up's length). */
  judged: number;
  open: OpenSpike | null;
  /** When the last spike announced to viewers started (kept by the caller; the detector ignores it). */
  announced?: number | null;
}

interface OpenSpike {
  spike: Spike;
  /** Reposts per seq during the spike. */
  bySeq: Record<string, number>;
  /** Quiet seconds in a row so far, when the first of them began, and their reposts (the spike's only if it goes on). */
  quiet: number;
  quietSince: number | null;
  quietBySeq: Record<string, number>;
}

export type SpikeEvent = { type: 'started'; spike: Spike } | { type: 'ended'; spike: Spike };

export const initialDetectorState = (): DetectorState => ({ baseline: 0, lastSecond: null, judged: 0, open: null });

const countOf = (bySeq: Record<string, number>) => Object.values(bySeq).reduce((a, b) => a + b, 0);

/** The seq with the most reposts; the lowest seq wins a tie, so the answer does not depend on key order. */
function topSeqOf(bySeq: Record<string, number>): number {
  let best = 0;
  let bestCount = -1;
  for (const [seq, n] of Object.entries(bySeq)) {
    const s = Number(seq);
    if (n > bestCount || (n === bestCount && s < best)) {
      best = s;
      bestCount = n;
    }
  }
  return best;
}

/**
 * Feeds whole seconds, oldest first (a second at or before the last one fed is ignored: it was
 * judged already). Seconds missing between two fed ones are judged as zero. Returns the new state
 * and what started or ended, in order. Pure: the input state is not changed.
 */
export function detectSpikes(
  state: DetectorState,
  seconds: readonly RepostSecond[],
  rules: SpikeRules = defaultSpikeRules,
): { state: DetectorState; events: SpikeEvent[] } {
  let baseline = state.baseline;
  let last = state.lastSecond;
  let judged = state.judged ?? 0;
  let open: OpenSpike | null = state.open ? structuredClone(state.open) : null;
  const events: SpikeEvent[] = [];

  const judge = (t: number, bySeq: Record<string, number>, diverse = true) => {
    const count = countOf(bySeq);
    const warm = judged >= rules.warmupSeconds;
    if (!warm) judged++;
    if (open) {
      baseline += (rules.alpha / 4) * (count - baseline);
      const s = open.spike;
      const add = (counts: Record<string, number>) => {
        for (const [seq, n] of Object.entries(counts)) {
          open!.bySeq[seq] = (open!.bySeq[seq] ?? 0) + n;
          s.total += n;
        }
      };
      const quiet = count < rules.minPerSecond || count < rules.endFactor * baseline;
      if (quiet) {
        open.quietSince ??= t;
        open.quiet++;
        for (const [seq, n] of Object.entries(bySeq)) open.quietBySeq[seq] = (open.quietBySeq[seq] ?? 0) + n;
        if (open.quiet >= rules.quietSeconds) {
          // It ended where the quiet began; the quiet seconds' reposts are not the spike's.
          s.endedAt = open.quietSince;
          events.push({ type: 'ended', spike: { ...s } });
          open = null;
        }
        return;
      }
      // Not quiet after all: the lull was part of the spike.
      add(open.quietBySeq);
      add(bySeq);
      open.quiet = 0;
      open.quietSince = null;
      open.quietBySeq = {};
      s.peakPerSecond = Math.max(s.peakPerSecond, count);
      s.topSeq = topSeqOf(open.bySeq);
      return;
    }
    const bar = rules.startFactor * (warm ? baseline : Math.max(baseline, rules.minPerSecond));
    if (count >= rules.minPerSecond && count >= bar && diverse) {
      const spike: Spike = {
        startedAt: t,
        endedAt: null,
        peakPerSecond: count,
        baselinePerSecond: Math.round(baseline * 100) / 100,
        total: count,
        topSeq: topSeqOf(bySeq),
      };
      open = { spike, bySeq: { ...bySeq }, quiet: 0, quietSince: null, quietBySeq: {} };
      events.push({ type: 'started', spike: { ...spike } });
      return;
    }
    baseline = baseline + rules.alpha * (count - baseline);
  };

  for (const second of seconds) {
    if (last !== null && second.t <= last) continue;
    // Seconds with no reposts at all are never fed in: judge them as the zeros they are.
    if (last !== null) {
      let t = last + 1000;
      // A long silence with no spike open only decays the baseline: skip to its last few seconds.
      const gap = (second.t - t) / 1000;
      if (!open && gap > 600) {
        baseline *= (1 - rules.alpha) ** (gap - 10);
        t += (gap - 10) * 1000;
      }
      for (; t < second.t; t += 1000) judge(t, {});
    }
    judge(
      second.t,
      second.bySeq,
      (second.viewers ?? Infinity) >= (rules.minViewers ?? 0) &&
        (second.sources ?? Infinity) >= (rules.minSources ?? 0),
    );
    last = second.t;
  }
  return { state: { baseline, lastSecond: last, judged, open }, events };
}
