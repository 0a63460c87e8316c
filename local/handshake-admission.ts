// Who may start a WebSocket handshake now: API Gateway's new-connection rate (429 past it) and a
// bound on handshakes in flight with a short queue (503 past it), so a connect wave is refused in
// the ways clients retry instead of timing out on DynamoDB Local (which gave 500s).
import { isThrottlingError, isTransientError } from '@smithy/core/retry';
import { TokenBucket } from './aws-limits';

export interface AdmissionOptions {
  /** New connections per second (AWS: 500 per account and Region). 0: unlimited. */
  readonly ratePerSecond: number;
  /** The bucket's capacity. Default: the rate (a second's worth). */
  readonly burst?: number;
  /** Handshakes (authorizer + `$connect`) running at once. */
  readonly maxInFlight: number;
  /** Handshakes waiting for one of those; past it a handshake is refused 503. */
  readonly maxQueued: number;
  /** Longest wait in the queue before a 503: the client is better off retrying later. */
  readonly maxQueueWaitMs: number;
}

export type Admission =
  | { readonly admitted: true; readonly release: () => void }
  | { readonly admitted: false; readonly status: 429 | 503; readonly reason: string };

interface Waiter {
  readonly resolve: (admission: Admission) => void;
  readonly timer: NodeJS.Timeout;
}

export class HandshakeAdmission {
  private readonly bucket: TokenBucket | undefined;
  private inFlight = 0;
  private readonly queue: Waiter[] = [];

  constructor(private readonly opts: AdmissionOptions) {
    for (const [name, v, min] of [
      ['ratePerSecond', opts.ratePerSecond, 0],
      ['maxInFlight', opts.maxInFlight, 1],
      ['maxQueued', opts.maxQueued, 0],
      ['maxQueueWaitMs', opts.maxQueueWaitMs, 0],
    ] as const) {
      if (!Number.isFinite(v) || v < min) throw new RangeError(`${name} must be a number >= ${min}, got ${v}`);
    }
    if (opts.burst !== undefined && !(opts.burst >= 1)) throw new RangeError(`burst must be >= 1, got ${opts.burst}`);
    this.bucket =
      opts.ratePerSecond > 0
        ? new TokenBucket(opts.ratePerSecond, opts.burst ?? Math.max(1, opts.ratePerSecond))
        : undefined;
  }

  /** Decides at once on the rate (as AWS does at its front door), then waits for a slot if it must. */
  admit(): Admission | Promise<Admission> {
    if (this.bucket !== undefined && !this.bucket.take()) {
      return { admitted: false, status: 429, reason: `over ${this.opts.ratePerSecond} new connections per second` };
    }
    if (this.inFlight < this.opts.maxInFlight) {
      this.inFlight += 1;
      return { admitted: true, release: this.releaser() };
    }
    if (this.queue.length >= this.opts.maxQueued) {
      return {
        admitted: false,
        status: 503,
        reason: `${this.opts.maxInFlight} handshakes running and ${this.queue.length} waiting`,
      };
    }
    return new Promise<Admission>((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i !== -1) this.queue.splice(i, 1);
          resolve({
            admitted: false,
            status: 503,
            reason: `waited ${this.opts.maxQueueWaitMs} ms for a handshake slot`,
          });
        }, this.opts.maxQueueWaitMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Handshakes running and waiting now. */
  load(): { inFlight: number; queued: number } {
    return { inFlight: this.inFlight, queued: this.queue.length };
  }

  /** Refuses everything waiting (the gateway is closing). */
  refuseQueued(): void {
    for (const waiter of this.queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve({ admitted: false, status: 503, reason: 'the gateway is closing' });
    }
  }

  /** A release that counts once, however often it is called. */
  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      if (next) {
        clearTimeout(next.timer);
        next.resolve({ admitted: true, release: this.releaser() }); // the slot passes straight on
        return;
      }
      this.inFlight -= 1;
    };
  }
}

/**
 * An error that says the backend is short of capacity right now (throttled, timed out, connection
 * refused or reset, a 5xx from DynamoDB, a transaction that lost a race for the same item): a
 * retry later may well succeed, so the handshake answers 503, not 500. The SDK's own
 * classification decides, plus transaction conflicts, which it leaves to the caller.
 */
export function isCapacityError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] };
  if (e.name === 'TransactionConflictException') return true;
  if (
    e.name === 'TransactionCanceledException' &&
    e.CancellationReasons?.some((r) => capacityReasons.has(r.Code ?? ''))
  )
    return true;
  const sdkError = err as Parameters<typeof isTransientError>[0];
  return isThrottlingError(sdkError) || isTransientError(sdkError);
}

const capacityReasons = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);
