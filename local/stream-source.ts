// Local stand-in for Lambda's DynamoDB Streams event source mapping: polls a table's stream on DynamoDB Local and invokes a handler in-process with AWS's batching, ordering and retry rules.
//
// How DynamoDB Local (the 2026-05-28 jar the project ships) behaves, found by experiment and by
// reading its bytecode — the workarounds below depend on it:
// - One shard per stream, for the stream's whole life. The jar holds a shard-rollover job (AWS rolls
//   shards about every 4 h) but in server mode nothing schedules it, and the test-control hook that
//   could trigger it is disabled; shards only close when the stream is disabled or the table deleted
//   (then DescribeStream shows an EndingSequenceNumber and GetRecords returns no NextShardIterator,
//   even in the same answer that carries the shard's last records). Re-enabling makes a new stream
//   ARN; like AWS's mapping, a source stays on the ARN it started with. Lineage is handled anyway,
//   for fidelity, and tested against a scripted stream.
// - Sequence numbers come from ONE counter for the whole instance (all tables), so a shard's
//   numbers have gaps. They are 21-digit decimal strings; compare them as BigInt.
// - A LATEST or TRIM_HORIZON iterator taken on an EMPTY shard points at the shard's starting
//   number. If anything else in the instance writes before this shard gets its first record, that
//   record's number is higher and GetRecords answers TrimmedDataAccessException (the long-known
//   "vanilla database" bug). Since the shard was empty when the iterator was taken, every record now
//   in it is new to us: re-taking a TRIM_HORIZON iterator (which then points at the first record) is
//   exactly right. On a non-empty shard TRIM_HORIZON points at the first record, LATEST at last + 1.
// - Iterators expire 15 min after they were issued (ExpiredIteratorException); every GetRecords
//   answer carries a fresh one, and an iterator may be reused until it expires. Per its code, shards
//   and records are kept 24 h; an expired shard answers ResourceNotFoundException ("Invalid ShardId
//   in ShardIterator"), which finishes that shard here.
// - GetRecords on an empty shard answers at once (no long poll; ~7-15 ms here) with no records and
//   a NextShardIterator. Limit defaults to 1000 and more is a ValidationException.
// - A record is readable as soon as the write that made it has returned (checked: the first poll
//   after the write sees it), which is what lets drain() below be exact.
// - Records: awsRegion is always "ddblocal" (the stream ARN says so too, and we pass both through);
//   ApproximateCreationDateTime is cut to the whole minute; per its code, TTL deletions come as
//   REMOVE with userIdentity {Type: "Service", PrincipalId: "dynamodb.amazonaws.com"} (Lambda's
//   event spells these keys type/principalId). The SDK turns
//   ApproximateCreationDateTime into a Date and B/BS into bytes; the event gets epoch seconds and
//   base64 back, as Lambda delivers them.
//
// Failures, as Lambda handles them (retries, bisection, the on-failure destination): local/stream-batches.ts.
// One shard's polling: local/stream-shard.ts.
//
// Not imitated: filter criteria, tumbling windows, parallelizationFactor (the stack leaves it at 1:
// one line of invocations per shard), function timeouts (a handler that never settles holds its
// shard, and stop(), forever). An iterator that expires before a LATEST-started shard gave its first
// record is re-taken at LATEST, which could skip records; polling every pollIntervalMs refreshes
// the iterator, so only a process frozen for 15 minutes meets this.
//
// drain(): every poll takes a ticket from a counter. A shard is drained for a drain() call when a
// GetRecords sent after the call (a higher ticket) came back empty and no record of the shard is
// waiting or being invoked (or the shard is closed and done). Records written before the call are
// readable by then (see above) and a shard is read in order, so an empty answer to a later poll means
// every earlier record has been fetched; an empty buffer means each was handled. The call also runs
// its own DescribeStream, so shards that appeared before it are waited for too.
import { DescribeTableCommand, type DescribeTableOutput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  type DescribeStreamOutput,
  DynamoDBStreamsClient,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { StreamFailureRecord } from '../shared/domain/redrive/failure-records';
import { toLambdaRecord } from '../shared/adapters/stream-records';
import { lambdaContext, type Invoke } from './lambda-context';
import { describe, type MappingSettings, type StreamSourceStats } from './stream-batches';
import { type SendClient, type ShardHost, ShardWorker } from './stream-shard';
import { Sleeper } from './sleeper';

export { toLambdaRecord };

// `any` on purpose: the source builds the events by hand, and each handler module types its own.
export type { Invoke, SendClient, StreamSourceStats };

export interface StreamSourceOptions {
  readonly dynamoEndpoint: string;
  /** The table whose LatestStreamArn (DescribeTable) is read, at start, once. */
  readonly tableName: string;
  readonly invoke: Invoke;
  /** Name on the fake Lambda context (and in failure records' ARN); default `<tableName>-stream`. */
  readonly functionName?: string;
  /** Records per invocation at most: 1–10,000, default 100 (AWS's default). */
  readonly batchSize?: number;
  /** How long to gather records before invoking with less than a full batch: 0–300,000 ms, default 0. */
  readonly maxBatchingWindowMs?: number;
  /** Where reading starts; LATEST (default) means as of the moment startStreamSource resolves. */
  readonly startingPosition?: 'LATEST' | 'TRIM_HORIZON';
  /** How often a shard with nothing new is polled; default 100 ms (AWS polls about 4×/s). */
  readonly pollIntervalMs?: number;
  /** How often DescribeStream looks for new shards; default 1000 ms (also run at once when a shard closes). */
  readonly shardDiscoveryIntervalMs?: number;
  /** Retries of a failed batch: -1 (default, AWS's) retries until it succeeds; past the limit the batch goes to onFailure and is skipped. */
  readonly maxRetryAttempts?: number;
  /** Records older than this are not invoked or retried any more (AWS's maximumRecordAgeInSeconds, in ms here); -1 (default): no limit. */
  readonly maxRecordAgeMs?: number;
  /** Split a batch whose handler threw in two and retry the halves (AWS's bisectBatchOnFunctionError). Default false. */
  readonly bisectBatchOnError?: boolean;
  /**
   * The on-failure destination: gets AWS's record of each batch given up. Awaited before the source
   * moves past the batch; if it throws, it is tried again (with backoff) until it succeeds or the
   * source stops. Without it a given-up batch is only logged.
   */
  readonly onFailure?: (record: StreamFailureRecord) => Promise<void>;
  /** Honour `{batchItemFailures: [{itemIdentifier: <SequenceNumber>}]}`: retry from the lowest failed record. Default false. */
  readonly reportBatchItemFailures?: boolean;
  /** Start-up, failure and skip lines; nothing is logged per batch. Default console.log. */
  readonly log?: (line: string) => void;
  /** Test seams: clients to use instead of ones built from dynamoEndpoint (they are not destroyed on stop). */
  readonly dynamoClient?: SendClient;
  readonly streamsClient?: SendClient;
}

export interface StreamSource {
  readonly streamArn: string;
  /** Ends polling at once, waits for invocations in flight, and leaves no timer or socket behind. */
  stop(): Promise<void>;
  /**
   * Resolves when every record written before the call has been through the handler successfully
   * (or skipped after maxRetryAttempts); rejects after timeoutMs (default 10 s) or on stop().
   */
  drain(timeoutMs?: number): Promise<void>;
  /** See Source.reattach: after DynamoDB Local restarted, resume after the last record read. */
  reattach(): Promise<void>;
  stats(): StreamSourceStats;
}

/** The stand-ins run in AWS's default region; the credentials are dummies DynamoDB Local ignores. */
const region = 'us-east-1';

export async function startStreamSource(opts: StreamSourceOptions): Promise<StreamSource> {
  const source = new Source(opts);
  try {
    await source.start();
  } catch (err) {
    await source.stop();
    throw err;
  }
  return {
    streamArn: source.streamArn,
    stop: () => source.stop(),
    drain: (timeoutMs) => source.drain(timeoutMs),
    reattach: () => source.reattach(),
    stats: () => ({ ...source.counters }),
  };
}

function integerIn(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

function mappingSettings(opts: StreamSourceOptions): MappingSettings {
  const functionName = opts.functionName ?? `${opts.tableName}-stream`;
  return {
    invoke: opts.invoke,
    functionName,
    functionArn: lambdaContext(functionName, { region }).invokedFunctionArn,
    batchSize: integerIn('batchSize', opts.batchSize, 100, 1, 10_000),
    windowMs: integerIn('maxBatchingWindowMs', opts.maxBatchingWindowMs, 0, 0, 300_000),
    maxRetryAttempts: integerIn('maxRetryAttempts', opts.maxRetryAttempts, -1, -1, 10_000),
    maxRecordAgeMs: integerIn('maxRecordAgeMs', opts.maxRecordAgeMs, -1, -1, 604_800_000),
    bisectBatchOnError: opts.bisectBatchOnError ?? false,
    reportBatchItemFailures: opts.reportBatchItemFailures ?? false,
    onFailure: opts.onFailure,
  };
}

/** The mapping itself: finds the stream and its shards, runs a worker per shard, and answers drain() and stop(). */
class Source implements ShardHost {
  readonly counters: StreamSourceStats = { invocations: 0, records: 0, errors: 0, skipped: 0, failureRecords: 0 };
  streamArn = '';
  stopped = false;

  readonly log: (line: string) => void;
  readonly settings: MappingSettings;
  readonly pollIntervalMs: number;
  readonly discoveryIntervalMs: number;
  readonly abort = new AbortController();
  readonly dynamo: SendClient;
  readonly streams: SendClient;

  private ticketCounter = 0;
  private readonly workers = new Map<string, ShardWorker>();
  /** Shards closed before a LATEST start: history we never read, and no child waits for them. */
  private readonly ignored = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly listeners = new Set<() => void>();
  private readonly discoverySleeper = new Sleeper();
  private discovering: Promise<void> | undefined;
  private discoveryLoop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly lastErrors = new Map<string, string>();
  private resolveStopped!: () => void;
  readonly whenStopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  constructor(readonly opts: StreamSourceOptions) {
    this.log = opts.log ?? ((line) => console.log(line));
    this.settings = mappingSettings(opts);
    this.pollIntervalMs = integerIn('pollIntervalMs', opts.pollIntervalMs, 100, 1, 60_000);
    this.discoveryIntervalMs = integerIn(
      'shardDiscoveryIntervalMs',
      opts.shardDiscoveryIntervalMs,
      1_000,
      1,
      3_600_000,
    );
    const config = {
      endpoint: opts.dynamoEndpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      // The poll loop retries with its own backoff, and stop() should not wait out the SDK's.
      maxAttempts: 1,
    };
    this.dynamo = opts.dynamoClient ?? new DynamoDBClient(config);
    this.streams = opts.streamsClient ?? new DynamoDBStreamsClient(config);
  }

  get name(): string {
    return `stream-source(${this.opts.tableName})`;
  }

  tick(): number {
    return ++this.ticketCounter;
  }

  async start(): Promise<void> {
    const { Table: table } = (await this.dynamo.send(
      new DescribeTableCommand({ TableName: this.opts.tableName }),
    )) as DescribeTableOutput;
    const arn = table?.LatestStreamArn;
    if (!arn || table?.StreamSpecification?.StreamEnabled === false) {
      throw new Error(`${this.name}: table ${this.opts.tableName} has no enabled stream (StreamSpecification)`);
    }
    this.streamArn = arn;

    const latest = (this.opts.startingPosition ?? 'LATEST') === 'LATEST';
    const fresh: ShardWorker[] = [];
    for (const shard of await this.describeShards()) {
      const id = shard.ShardId;
      if (!id) continue;
      if (latest && shard.SequenceNumberRange?.EndingSequenceNumber) {
        this.ignored.add(id);
        continue;
      }
      const worker = new ShardWorker(this, id, shard.ParentShardId, latest ? 'LATEST' : 'TRIM_HORIZON');
      this.workers.set(id, worker);
      fresh.push(worker);
    }
    // LATEST means "from now": pin the position before start resolves, so a write made after it is seen.
    if (latest) await Promise.all(fresh.map((w) => w.acquire()));
    for (const w of fresh) w.start();
    this.discoveryLoop = this.runDiscovery();
    this.log(
      `${this.name}: reading ${arn} from ${latest ? 'LATEST' : 'TRIM_HORIZON'} (${fresh.length} shard${fresh.length === 1 ? '' : 's'}, batch ${this.settings.batchSize})`,
    );
  }

  private async describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStart: string | undefined;
    do {
      const out = (await this.streams.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ...(exclusiveStart ? { ExclusiveStartShardId: exclusiveStart } : {}),
        }),
        { abortSignal: this.abort.signal },
      )) as DescribeStreamOutput;
      shards.push(...(out.StreamDescription?.Shards ?? []));
      exclusiveStart = out.StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStart && !this.stopped);
    return shards;
  }

  /** Starts a worker for each shard not seen before; all are registered first so a child finds its parent. */
  discover(): Promise<void> {
    this.discovering ??= (async () => {
      try {
        const fresh: ShardWorker[] = [];
        for (const shard of await this.describeShards()) {
          const id = shard.ShardId;
          if (!id || this.workers.has(id) || this.ignored.has(id) || this.stopped) continue;
          const worker = new ShardWorker(this, id, shard.ParentShardId, 'TRIM_HORIZON');
          this.workers.set(id, worker);
          fresh.push(worker);
        }
        for (const w of fresh) w.start();
        this.clearError('discovery');
      } finally {
        this.discovering = undefined;
      }
    })();
    return this.discovering;
  }

  discoverSoon(): void {
    this.discoverySleeper.wake();
  }

  private async runDiscovery(): Promise<void> {
    while (!this.stopped) {
      await this.discoverySleeper.sleep(this.discoveryIntervalMs);
      if (this.stopped) break;
      try {
        await this.discover();
      } catch (err) {
        if (!this.stopped) this.reportError('discovery', `DescribeStream failed: ${describe(err)}`);
      }
    }
  }

  worker(id: string | undefined): ShardWorker | undefined {
    return id === undefined ? undefined : this.workers.get(id);
  }

  /** Runs one batch through the handler, off the poll loop; the worker learns the outcome through settle(). */
  track(run: Promise<void>): void {
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }

  /** Logs an error once until it changes or clears, so a dead endpoint does not flood the log. */
  reportError(key: string, line: string): void {
    if (this.lastErrors.get(key) === line) return;
    this.lastErrors.set(key, line);
    this.log(`${this.name}: ${line}`);
  }

  clearError(key: string): void {
    this.lastErrors.delete(key);
  }

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  async drain(timeoutMs = 10_000): Promise<void> {
    if (this.stopped) throw new Error(`${this.name} is stopped`);
    const ticket = this.tick();
    // A discovery already under way may have asked before some shard existed: ask again after it.
    await this.discovering?.catch(() => {});
    await this.discover().catch((err: unknown) =>
      this.reportError('discovery', `DescribeStream failed: ${describe(err)}`),
    );
    for (const w of this.workers.values()) w.wake();
    const drained = () => [...this.workers.values()].every((w) => w.drainedSince(ticket));
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (drained()) finish();
        else if (this.stopped) finish(new Error(`${this.name} stopped before it drained`));
      };
      const timer = setTimeout(() => {
        const waiting = [...this.workers.values()].filter((w) => !w.drainedSince(ticket)).map((w) => w.describeState());
        finish(new Error(`${this.name} did not drain within ${timeoutMs} ms: ${waiting.join('; ')}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  // ---- re-attach after a DynamoDB Local restart ------------------------------------------------
  //
  // A DynamoDB Local restarted on the same -dbPath (checked with the 2026-05-28 jar) keeps the
  // table's stream ARN, its shard ids and its sequence counter, and AFTER_SEQUENCE_NUMBER on the
  // last record read returns exactly the records written since. While it was down every poll
  // failed and backed off; so this re-reads the stream ARN, drops the iterators of shards that
  // gave records (acquire() then resumes after the last one; the others keep theirs) and wakes
  // the workers and discovery at once. A different ARN means the table was recreated (an
  // in-memory instance lost everything): nothing can be resumed, and the error says so.

  async reattach(): Promise<void> {
    if (this.stopped) return;
    const { Table: table } = (await this.dynamo.send(new DescribeTableCommand({ TableName: this.opts.tableName }), {
      abortSignal: this.abort.signal,
    })) as DescribeTableOutput;
    const arn = table?.LatestStreamArn;
    if (arn !== this.streamArn) {
      throw new Error(
        `${this.name}: the stream is not the one this source read (${this.streamArn} → ${arn ?? 'none'}); its records cannot be resumed`,
      );
    }
    for (const w of this.workers.values()) w.reattach();
    this.discoverSoon();
    this.log(`${this.name}: re-attached to ${arn}`);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.resolveStopped();
      this.abort.abort();
      this.discoverySleeper.wake();
      for (const w of this.workers.values()) w.wake();
      await Promise.allSettled([this.discoveryLoop, ...[...this.workers.values()].map((w) => w.done)]);
      // Invocations are not cut short, as Lambda would not cut one short for a mapping being disabled.
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      this.notify();
      if (!this.opts.dynamoClient) this.dynamo.destroy();
      if (!this.opts.streamsClient) this.streams.destroy();
    })();
    return this.stopping;
  }
}
