// The Lambda side of the local DynamoDB Streams mapping: how a shard's fetched records become
// invocations — batching, retries, bisect-on-error, partial-batch responses, and the on-failure
// destination for a batch given up. The polling that fills it is local/stream-shard.ts.
//
// Failures, as Lambda handles them: a batch whose handler threw is split in two and the first half
// retried (bisectBatchOnError; a split does not spend a retry), down to one record; a batch that
// fails maxRetryAttempts + 1 times, or whose oldest records are older than maxRecordAgeMs, is given
// up and its place in the stream (DDBStreamBatchInfo: shard, first and last sequence numbers) goes to
// onFailure, AWS's on-failure destination record, before the source moves on. A record's age counts
// from when the source fetched it (DynamoDB Local cuts ApproximateCreationDateTime to the minute).
import type { StreamFailureCondition, StreamFailureRecord } from '../shared/domain/redrive/failure-records';
import { attempts, backoffMs } from '../shared/retry';
import { lambdaContext, type Invoke } from './lambda-context';

export interface StreamSourceStats {
  /** Handler calls, retries included. */
  invocations: number;
  /** Records handed to the handler, counted again on each retry. */
  records: number;
  /** Invocations that threw or reported failed items. */
  errors: number;
  /** Records given up after maxRetryAttempts or maxRecordAgeMs ran out. */
  skipped: number;
  /** Failure records handed to onFailure. */
  failureRecords: number;
}

/** The mapping's settings, checked and defaulted (see StreamSourceOptions). */
export interface MappingSettings {
  readonly invoke: Invoke;
  readonly functionName: string;
  readonly functionArn: string;
  readonly batchSize: number;
  readonly windowMs: number;
  readonly maxRetryAttempts: number;
  readonly maxRecordAgeMs: number;
  readonly bisectBatchOnError: boolean;
  readonly reportBatchItemFailures: boolean;
  readonly onFailure: ((record: StreamFailureRecord) => Promise<void>) | undefined;
}

/** What a shard's batches need from the source they belong to. */
export interface MappingHost {
  readonly name: string;
  readonly streamArn: string;
  readonly stopped: boolean;
  readonly settings: MappingSettings;
  readonly counters: StreamSourceStats;
  /** A ticket from the source's counter: orders polls and invocations for drain(). */
  tick(): number;
  /** Runs work off the poll loop; stop() waits for it. */
  track(run: Promise<void>): void;
  reportError(key: string, line: string): void;
  clearError(key: string): void;
  /** Tells drain() waiters that something moved. */
  notify(): void;
  log(line: string): void;
}

/** A record as fetched, already in its Lambda JSON form, so each invocation parses fresh objects from it as Lambda would. */
export interface Fetched {
  readonly seq: string;
  /** ApproximateCreationDateTime in epoch seconds, for the failure record's arrival times. */
  readonly created: number | undefined;
  readonly json: string;
  readonly bytes: number;
  readonly arrivedAt: number;
}

/** Lambda's limit for a synchronous invocation's payload caps a batch as well as batchSize does. */
const maxPayloadBytes = 6 * 1024 * 1024;
const eventEnvelopeBytes = '{"Records":[]}'.length;

export const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

const noJitter = () => 1;
/**
 * The wait before retry `attempt` (1, 2, …): 100, 200, 400, 800, then 1,000 ms. Without jitter, on
 * purpose: it stands for Lambda's poller, one per shard, so there is no crowd to spread, and a
 * batch's retries come at the times AWS documents as exponential backoff. The poller's own errors
 * (GetShardIterator, GetRecords) and the destination's refusals wait the same way.
 */
export const retryDelayMs = (attempt: number) => backoffMs(attempt, noJitter, 50, 1_000);
/** The same waits as retryDelayMs, as an `attempts` policy (unbounded: until it works or the source stops). */
export const untilStopped = { tries: Number.POSITIVE_INFINITY, baseMs: 50, capMs: 1_000, random: noJitter };

/**
 * One shard's line of invocations: records wait here in shard order, the head batch stays while it is
 * invoked, and later records wait behind a failing batch — that is what keeps a shard in order.
 */
export class ShardBatches {
  private readonly queue: Fetched[] = [];
  private busy = false;
  /** Failed attempts of the head batch. */
  private attempts = 0;
  /** Size of the head batch while it is being retried (the same records again, nothing added). */
  private retryCount: number | undefined;
  private notBefore = 0;
  /** Ticket taken when the last invocation ended: the next fresh batch waits for a poll after it. */
  private freedTicket = 0;
  /** The head batch's last invocation, for the failure record. */
  private lastRequestId = '';
  /** Invocations of the head batch's records since they were last given a fresh start (splits included). */
  private invokeCount = 0;

  constructor(
    private readonly host: MappingHost,
    private readonly shardId: string,
    /** Polls the shard now: something it waits for (a free line, a retry due) changed. */
    private readonly wakeShard: () => void,
  ) {}

  /** Records fetched and not yet through the handler (or given up). */
  get pending(): number {
    return this.queue.length;
  }

  get failing(): boolean {
    return this.attempts > 0 || this.retryCount !== undefined;
  }

  push(record: Fetched): void {
    this.queue.push(record);
  }

  /** Starts the next invocation if one is due; `fillTicket` is the shard's latest poll, `closed` whether more can come. */
  dispatch(fillTicket: number, closed: boolean): void {
    const s = this.host;
    const { maxRecordAgeMs, windowMs, batchSize } = s.settings;
    if (s.stopped) return;
    const now = Date.now();
    const head = this.queue[0];
    if (this.busy || !head) return;
    if (maxRecordAgeMs >= 0 && now - head.arrivedAt > maxRecordAgeMs) {
      this.giveUpOld(now);
      return;
    }
    if (now < this.notBefore) return;
    if (this.retryCount !== undefined) {
      this.invoke(this.retryCount);
      return;
    }
    // A fresh batch holds what the shard has when it is formed: one poll after the last invocation
    // ended, so records written during a slow invocation all go into the next one.
    if (this.freedTicket > fillTicket) return;
    const count = this.batchCount();
    const full = count === this.queue.length ? count >= batchSize : true;
    if (windowMs > 0 && !full && !closed && now - head.arrivedAt < windowMs) return;
    this.invoke(count);
  }

  /** How long the shard may sleep (at most `delay`) before a batch here is due: a retry, a window, an age limit. */
  nextDelay(delay: number, now: number): number {
    const { maxRecordAgeMs, windowMs } = this.host.settings;
    const head = this.queue[0];
    if (this.busy || !head) return delay;
    if (maxRecordAgeMs >= 0) delay = Math.min(delay, head.arrivedAt + maxRecordAgeMs + 1 - now);
    if (this.retryCount !== undefined) delay = Math.min(delay, this.notBefore - now);
    else if (windowMs > 0) delay = Math.min(delay, head.arrivedAt + windowMs - now);
    return delay;
  }

  /** As many head records as batchSize and Lambda's 6 MB payload allow, at least one. */
  private batchCount(): number {
    let bytes = eventEnvelopeBytes;
    let count = 0;
    for (const f of this.queue) {
      if (count >= this.host.settings.batchSize) break;
      if (count > 0 && bytes + f.bytes + 1 > maxPayloadBytes) break;
      bytes += f.bytes + 1;
      count++;
    }
    return count;
  }

  private invoke(count: number): void {
    const s = this.host;
    this.busy = true;
    const batch = this.queue.slice(0, count);
    s.counters.invocations++;
    s.counters.records += count;
    this.invokeCount++;
    const run = (async () => {
      let failedFrom: number | undefined;
      let error: unknown;
      let threw = false;
      try {
        const event: unknown = JSON.parse(`{"Records":[${batch.map((f) => f.json).join(',')}]}`);
        const context = lambdaContext(s.settings.functionName);
        this.lastRequestId = context.awsRequestId;
        const result: unknown = await s.settings.invoke(event, context);
        if (s.settings.reportBatchItemFailures) {
          failedFrom = checkpoint(result, batch);
          if (failedFrom !== undefined)
            error = new Error(`the handler reported failed items from ${batch[failedFrom]?.seq}`);
        }
      } catch (err) {
        failedFrom = 0;
        error = err;
        threw = true;
      }
      this.settle(count, failedFrom, error, threw);
    })();
    s.track(run);
  }

  /** The head batch's records get a fresh start: no attempts spent, nothing being retried. */
  private freshStart(): void {
    this.attempts = 0;
    this.retryCount = undefined;
    this.notBefore = 0;
    this.invokeCount = 0;
  }

  private settle(count: number, failedFrom: number | undefined, error: unknown, threw: boolean): void {
    const s = this.host;
    this.busy = false;
    this.freedTicket = s.tick();
    if (failedFrom === undefined) {
      if (this.attempts > 0)
        s.log(`${s.name}: shard ${this.shardId}: batch succeeded after ${this.attempts} failed attempt(s)`);
      this.queue.splice(0, count);
      this.freshStart();
    } else {
      s.counters.errors++;
      this.queue.splice(0, failedFrom);
      if (!this.retryAfterFailure(count - failedFrom, error, threw)) return;
    }
    this.wakeShard();
    s.notify();
  }

  /** Sets up the retry of a failed batch's `remaining` records; false when it was given up instead. */
  private retryAfterFailure(remaining: number, error: unknown, threw: boolean): boolean {
    const s = this.host;
    if (threw && s.settings.bisectBatchOnError && remaining > 1) {
      // Lambda's bisection: the first half again at once, without spending a retry; the second
      // half follows once the first is through.
      this.retryCount = Math.ceil(remaining / 2);
      this.notBefore = 0;
      s.log(
        `${s.name}: shard ${this.shardId}: batch of ${remaining} failed, retrying its first ${this.retryCount}: ${describe(error)}`,
      );
      return true;
    }
    this.attempts++;
    const { maxRetryAttempts } = s.settings;
    if (maxRetryAttempts >= 0 && this.attempts > maxRetryAttempts) {
      const why = `after ${this.attempts} failed attempt(s): ${describe(error)}`;
      this.giveUp(remaining, 'RetryAttemptsExhausted', why, () => this.freshStart());
      return false;
    }
    // Later records of the lane wait behind this batch: that is what keeps a shard in order.
    if (this.attempts === 1 || this.attempts % 10 === 0) {
      s.log(
        `${s.name}: shard ${this.shardId}: batch of ${remaining} failed (attempt ${this.attempts}), retrying: ${describe(error)}`,
      );
    }
    this.retryCount = remaining;
    this.notBefore = Date.now() + retryDelayMs(this.attempts);
    return true;
  }

  /** Records at the head older than maxRecordAgeMs (within the batch being retried, if one is). */
  private giveUpOld(now: number): void {
    const { maxRecordAgeMs, batchSize } = this.host.settings;
    // A fresh batch is at most batchSize records: so is the record of its old part.
    const within = this.retryCount ?? Math.min(this.queue.length, batchSize);
    let old = 0;
    while (old < within && now - (this.queue[old]?.arrivedAt ?? now) > maxRecordAgeMs) old++;
    const rest = this.retryCount === undefined ? undefined : this.retryCount - old;
    this.giveUp(old, 'RecordAgeExceeded', `older than ${maxRecordAgeMs} ms`, () => {
      // What is left of a batch being retried is still that batch, with its attempts.
      this.retryCount = rest === 0 ? undefined : rest;
      if (this.retryCount === undefined) this.freshStart();
    });
  }

  /**
   * Sends the first `count` records' place to the on-failure destination, then drops them. The line
   * stays busy until the destination took the record: nothing later is processed first.
   */
  private giveUp(count: number, condition: StreamFailureCondition, why: string, after: () => void): void {
    const s = this.host;
    const batch = this.queue.slice(0, count);
    const first = batch[0];
    const last = batch[batch.length - 1];
    if (!first || !last) return;
    this.busy = true;
    const record = this.failureRecord(batch, first, last, condition);
    const run = (async () => {
      const onFailure = s.settings.onFailure;
      if (onFailure && !(await this.deliver(onFailure, record))) return;
      s.log(
        `${s.name}: shard ${this.shardId}: gave up ${count} record(s) ${first.seq}..${last.seq} (${condition}) ${why}` +
          (onFailure
            ? '; their place went to the on-failure destination'
            : '; no on-failure destination, they are lost'),
      );
      s.counters.skipped += count;
      this.queue.splice(0, count);
      after();
      this.busy = false;
      this.freedTicket = s.tick();
      this.wakeShard();
      s.notify();
    })();
    s.track(run);
  }

  /** Hands the record to the destination, trying again (with backoff) until it takes it; false if the source stopped first. */
  private async deliver(
    onFailure: (record: StreamFailureRecord) => Promise<void>,
    record: StreamFailureRecord,
  ): Promise<boolean> {
    const s = this.host;
    const key = `${this.shardId}:destination`;
    for await (const attempt of attempts(untilStopped)) {
      // A batch given up as the source stops is still handed over; only the retries end at stop.
      if (attempt > 0 && s.stopped) return false;
      try {
        await onFailure(record);
        s.counters.failureRecords++;
        s.clearError(key);
        return true;
      } catch (err) {
        if (s.stopped) return false;
        s.reportError(key, `shard ${this.shardId}: the on-failure destination failed, trying again: ${describe(err)}`);
      }
    }
    return false;
  }

  /** AWS's on-failure record of a stream batch: where it is in the stream, and why it was given up. */
  private failureRecord(
    batch: readonly Fetched[],
    first: Fetched,
    last: Fetched,
    condition: StreamFailureCondition,
  ): StreamFailureRecord {
    const s = this.host;
    const arrival = (f: Fetched) =>
      f.created === undefined ? undefined : new Date(f.created * 1000).toISOString().replace('.000Z', 'Z');
    const firstArrival = arrival(first);
    const lastArrival = arrival(last);
    return {
      requestContext: {
        requestId: this.lastRequestId,
        functionArn: s.settings.functionArn,
        condition,
        approximateInvokeCount: this.invokeCount,
      },
      ...(this.invokeCount > 0
        ? { responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' } }
        : {}),
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: this.shardId,
        startSequenceNumber: first.seq,
        endSequenceNumber: last.seq,
        ...(firstArrival ? { approximateArrivalOfFirstRecord: firstArrival } : {}),
        ...(lastArrival ? { approximateArrivalOfLastRecord: lastArrival } : {}),
        batchSize: batch.length,
        streamArn: s.streamArn,
      },
    };
  }
}

/**
 * Where to resume after a partial-batch response, as Lambda reads it: undefined is success (no
 * response, no list, an empty list); the lowest reported record is the checkpoint; a malformed
 * entry or an identifier not in the batch fails the whole batch.
 */
function checkpoint(result: unknown, batch: readonly Fetched[]): number | undefined {
  if (result === null || typeof result !== 'object') return undefined;
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return undefined;
  if (!Array.isArray(failures)) return 0;
  if (failures.length === 0) return undefined;
  let lowest: number | undefined;
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const index = typeof id === 'string' && id !== '' ? batch.findIndex((f) => f.seq === id) : -1;
    if (index < 0) return 0;
    lowest = lowest === undefined ? index : Math.min(lowest, index);
  }
  return lowest;
}
