// AWS's @connections limits for the local gateway (latency, the account token bucket, injected 410s): configuration, env parsing, and the per-call decisions.

export interface AwsLimits {
  /** Added to every @connections call (POST/GET/DELETE) before it is answered. */
  latencyMs?: number;
  /** Uniform 0..jitter added on top of latencyMs. */
  latencyJitterMs?: number;
  /**
   * The account token bucket shared by every @connections call: `rate` tokens/s refill, `burst`
   * capacity. A call that finds no token is answered 429 LimitExceededException immediately (AWS
   * does not queue). Unset: unlimited. 0: no refill, only the initial burst (handy in tests).
   */
  rate?: number;
  /** Bucket capacity, and what it holds at start. Default: max(rate, 1), so a rate below 1/s still passes calls. */
  burst?: number;
  /** Share (0..1) of POSTs answered 410 GoneException; the connection is then really gone. */
  goneRate?: number;
  /** Seeds the jitter and 410 draws. Unset: a random seed, reported by describeLimits so a run can be repeated. */
  seed?: number;
}

/** The variables limitsFromEnv reads, by field. */
export const limitsEnv = {
  latencyMs: 'LIVECAST_SIM_LATENCY_MS',
  latencyJitterMs: 'LIVECAST_SIM_LATENCY_JITTER_MS',
  rate: 'LIVECAST_SIM_RATE',
  burst: 'LIVECAST_SIM_BURST',
  goneRate: 'LIVECAST_SIM_GONE_RATE',
  seed: 'LIVECAST_SIM_SEED',
} as const satisfies Record<keyof AwsLimits, string>;

const decimal = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The limits configured in the environment; undefined when none of the variables is set (an
 * empty value counts as unset, as shells make it easy to leave one empty). A malformed or
 * out-of-range value throws an Error that names the variable, so `npm start` fails loudly
 * rather than running a benchmark without the limit it was meant to have.
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv): AwsLimits | undefined {
  const limits: AwsLimits = {};
  let any = false;
  for (const [field, name] of Object.entries(limitsEnv) as [keyof AwsLimits, string][]) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    if (!decimal.test(raw)) throw new Error(`${name} must be a number, got ${JSON.stringify(env[name])}`);
    limits[field] = Number(raw);
    any = true;
  }
  if (!any) return undefined;
  // Errors name the variables: that is what the person at the shell can change.
  return validateLimits(limits, (field) => limitsEnv[field]);
}

/** Checks ranges and returns the same object; otherwise throws an Error naming the field (as `name` spells it). */
export function validateLimits(
  limits: AwsLimits,
  name: (field: keyof AwsLimits) => string = (field) => field,
): AwsLimits {
  const { latencyMs, latencyJitterMs, rate, burst, goneRate, seed } = limits;
  const check = (field: keyof AwsLimits, ok: boolean, expected: string) => {
    if (!ok) throw new Error(`${name(field)} must be ${expected}, got ${limits[field]}`);
  };
  const atLeast = (v: number | undefined, min: number) => v === undefined || (Number.isFinite(v) && v >= min);
  check('latencyMs', atLeast(latencyMs, 0), 'a number of milliseconds >= 0');
  check('latencyJitterMs', atLeast(latencyJitterMs, 0), 'a number of milliseconds >= 0');
  check('rate', atLeast(rate, 0), 'a number of calls per second >= 0');
  check('burst', atLeast(burst, 1), 'a number of calls >= 1');
  if (burst !== undefined && rate === undefined) {
    throw new Error(`${name('burst')} needs ${name('rate')}: a burst means nothing without a refill rate`);
  }
  check('goneRate', atLeast(goneRate, 0) && (goneRate ?? 0) <= 1, 'a share between 0 and 1');
  check('seed', seed === undefined || Number.isSafeInteger(seed), 'an integer');
  return limits;
}

/** One line for the start-up log, including the seed actually used. */
export function describeLimits(limits: AwsLimits, seed: number): string {
  const parts: string[] = [];
  if (limits.latencyMs || limits.latencyJitterMs) {
    parts.push(
      `latency ${limits.latencyMs ?? 0} ms${limits.latencyJitterMs ? ` + 0..${limits.latencyJitterMs} ms jitter` : ''}`,
    );
  }
  if (limits.rate !== undefined) parts.push(`${limits.rate} calls/s, burst ${burstOf(limits.rate, limits.burst)}`);
  if (limits.goneRate) parts.push(`${limits.goneRate * 100}% of posts 410`);
  if (parts.length === 0) parts.push('no limit active');
  return `${parts.join(', ')} (seed ${seed})`;
}

function burstOf(rate: number, burst: number | undefined): number {
  return burst ?? Math.max(rate, 1);
}

/** The monotonic clock, in milliseconds. */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/**
 * A token bucket refilled continuously from a monotonic clock: each take() adds the tokens earned
 * since the previous one, so it is exact under any load and needs no timer.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: Clock = monotonic,
  ) {
    // Full at start, as an account that has been idle.
    this.tokens = burst;
    this.last = now();
    this.perMs = rate / 1000;
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const now = this.now();
    // max(0, …): a clock that stands still (or an injected one that steps back) must not drain.
    const earned = Math.max(0, now - this.last) * this.perMs;
    this.last = now;
    const tokens = Math.min(this.burst, this.tokens + earned);
    if (tokens >= 1) {
      this.tokens = tokens - 1;
      return true;
    }
    this.tokens = tokens;
    return false;
  }

  /** Tokens available now (refill included), for tests and diagnostics. */
  available(): number {
    return Math.min(this.burst, this.tokens + Math.max(0, this.now() - this.last) * this.perMs);
  }
}

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; returns draws in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What happens to one call, decided when it arrives. */
export type Verdict = 'pass' | 'throttled' | 'gone';

/**
 * The per-call decisions, made synchronously when a call arrives, in arrival order:
 * 1. throttle: one token from the account bucket, or 429 (AWS decides at its front door, so a
 *    throttled call never reaches the connection and never draws a 410);
 * 2. for a POST that passed, the 410 draw;
 * 3. the latency of this call — drawn for every call, 429s and 410s included, because AWS's
 *    refusals also cost a round trip; a sender that retries 429s at once must feel that.
 * Jitter and 410s draw from separate streams of the one seed, so the k-th post's 410 fate
 * depends only on the seed and k, not on whether jitter is on or how many GETs came between.
 */
export class Limiter {
  readonly seed: number;
  private readonly bucket: TokenBucket | undefined;
  private readonly goneRate: number;
  private readonly latencyMs: number;
  private readonly jitterMs: number;
  private readonly goneDraw: () => number;
  private readonly jitterDraw: () => number;

  constructor(limits: AwsLimits, now: Clock = monotonic) {
    validateLimits(limits);
    this.seed = limits.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.bucket =
      limits.rate === undefined ? undefined : new TokenBucket(limits.rate, burstOf(limits.rate, limits.burst), now);
    this.goneRate = limits.goneRate ?? 0;
    this.latencyMs = limits.latencyMs ?? 0;
    this.jitterMs = limits.latencyJitterMs ?? 0;
    this.goneDraw = mulberry32(this.seed);
    // A different odd constant per stream keeps the two sequences unrelated.
    this.jitterDraw = mulberry32(this.seed ^ 0x9e3779b9);
  }

  /** Steps 1 and 2 for a call arriving now. */
  arrive(isPost: boolean): Verdict {
    if (this.bucket !== undefined && !this.bucket.take()) return 'throttled';
    if (isPost && this.goneRate > 0 && this.goneDraw() < this.goneRate) return 'gone';
    return 'pass';
  }

  /** Step 3: milliseconds to hold this call's answer. */
  delayMs(): number {
    return this.jitterMs > 0 ? this.latencyMs + this.jitterDraw() * this.jitterMs : this.latencyMs;
  }

  /** Tokens left in the bucket (Infinity without one). */
  tokens(): number {
    return this.bucket === undefined ? Infinity : this.bucket.available();
  }
}

/** Resolves once the monotonic clock reaches `deadline`: never early, even when a timer fires a little before its time. */
export function waitUntil(deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const tick = () => {
      const left = deadline - performance.now();
      if (left <= 0) resolve();
      else setTimeout(tick, Math.ceil(left));
    };
    tick();
  });
}
