// Latency distributions small enough for millions of samples: a fixed histogram, fine below a second and coarse above.

/** 0.1 ms buckets up to 1 s, then 1 ms buckets up to 15 min; anything later lands in the last bucket. */
const FINE_MS = 1_000;
const FINE_PER_MS = 10;
const COARSE_MS = 15 * 60_000;
const FINE_BUCKETS = FINE_MS * FINE_PER_MS;
const BUCKETS = FINE_BUCKETS + (COARSE_MS - FINE_MS) + 1;

export interface HistogramData {
  counts: Uint32Array;
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  record(ms: number): void {
    // Cross-clock rounding can make a tiny latency negative; it is a zero.
    const v = ms < 0 ? 0 : ms;
    const i = v < FINE_MS ? Math.floor(v * FINE_PER_MS) : Math.min(BUCKETS - 1, FINE_BUCKETS + Math.floor(v - FINE_MS));
    this.counts[i]! += 1;
    this.count += 1;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  data(): HistogramData {
    return { counts: this.counts, count: this.count, sum: this.sum, min: this.min, max: this.max };
  }
}

/** The value below which a share `q` (0..1) of the samples lie, at the bucket's upper edge (never flattering). */
export function quantile(h: HistogramData, q: number): number {
  if (h.count === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i]!;
    if (seen >= rank) {
      const upper = i < FINE_BUCKETS ? (i + 1) / FINE_PER_MS : FINE_MS + (i - FINE_BUCKETS) + 1;
      return Math.min(upper, h.max);
    }
  }
  return h.max;
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(h: HistogramData): Summary {
  return {
    count: h.count,
    p50: quantile(h, 0.5),
    p99: quantile(h, 0.99),
    max: h.count ? h.max : NaN,
    mean: h.count ? h.sum / h.count : NaN,
  };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
