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
// Failures, as Lambda handles them: a batch whose handler threw is split in two and the first half
// retried (bisectBatchOnError; a split does not spend a retry), down to one record; a batch that
// fails maxRetryAttempts + 1 times, or whose oldest records are older than maxRecordAgeMs, is given
// up and its place in the stream (DDBStreamBatchInfo: shard, first and last sequence numbers) goes to
// onFailure, AWS's on-failure destination record, before the source moves on. A record's age counts
// from when the source fetched it (DynamoDB Local cuts ApproximateCreationDateTime to the minute).
//
// Not imitated: filter criteria, tumbling windows, function timeouts (a handler that never settles holds its
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
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsOutput,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { StreamFailureCondition, StreamFailureRecord } from '../shared/domain/redrive/failure-records';
import { toLambdaRecord } from '../shared/adapters/stream-records';
import { lambdaContext, type Invoke } from './lambda-context';

export { toLambdaRecord };

// `any` on purpose: the source builds the events by hand, and each handler module types its own.
export type { Invoke };

/** The two calls the source makes on each client; the real SDK clients fit, and so does a scripted fake in tests. */
export interface SendClient {
  send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>;
  destroy(): void;
}

export interface StreamSourceOptions {
  readonly dynamoEndpoint: string;
  /** Region of the SDK clients (credentials are static dummies); default us-east-1. */
  readonly region?: string;
  /** The table whose LatestStreamArn (DescribeTable) is read, at start, once. */
  readonly tableName: string;
  readonly invoke: Invoke;
  /** Name on the fake Lambda context; default `<tableName>-stream`. */
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
  /** The function's ARN in failure records; default a local ARN for functionName. */
  readonly functionArn?: string;
  /** Honour `{batchItemFailures: [{itemIdentifier: <SequenceNumber>}]}`: retry from the lowest failed record. Default false. */
  readonly reportBatchItemFailures?: boolean;
  /**
   * Concurrent batches per shard, 1–10 (default 1). Records are split by a hash of their partition
   * key, so one key's records are never processed concurrently or out of order.
   */
  readonly parallelizationFactor?: number;
  /** Start-up, failure and skip lines; nothing is logged per batch. Default console.log. */
  readonly log?: (line: string) => void;
  /** Test seams: clients to use instead of ones built from dynamoEndpoint (they are not destroyed on stop). */
  readonly dynamoClient?: SendClient;
  readonly streamsClient?: SendClient;
}

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

const maxGetRecordsLimit = 1000;
/** Lambda's limit for a synchronous invocation's payload caps a batch as well as batchSize does. */
const maxPayloadBytes = 6 * 1024 * 1024;
const eventEnvelopeBytes = '{"Records":[]}'.length;

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

const errorName = (err: unknown) => (err instanceof Error ? err.name : '');
const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
const backoffMs = (attempt: number) => Math.min(1_000, 100 * 2 ** Math.max(0, attempt - 1));

/** A sleep that wake() cuts short; a wake while awake is remembered, so none is lost between checks. */
class Sleeper {
  private pending = false;
  private current: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    if (this.pending || ms <= 0) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.current = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.current = done;
    });
  }

  wake(): void {
    if (this.current) this.current();
    else this.pending = true;
  }
}

/** A record as fetched, already in its Lambda JSON form, so each invocation parses fresh objects from it as Lambda would. */
interface Fetched {
  readonly seq: string;
  /** ApproximateCreationDateTime in epoch seconds, for the failure record's arrival times. */
  readonly created: number | undefined;
  readonly json: string;
  readonly bytes: number;
  readonly arrivedAt: number;
}

/** One sequential line of invocations; a shard has parallelizationFactor of them. */
interface Lane {
  /** Fetched records not yet through the handler, in shard order; the head batch stays here while invoked. */
  readonly queue: Fetched[];
  busy: boolean;
  /** Failed attempts of the head batch. */
  attempts: number;
  /** Size of the head batch while it is being retried (the same records again, nothing added). */
  retryCount: number | undefined;
  notBefore: number;
  /** Ticket taken when the last invocation ended: the next fresh batch waits for a poll after it. */
  freedTicket: number;
  /** The head batch's last invocation, for the failure record. */
  lastRequestId: string;
  /** Invocations of the head batch's records since they were last given a fresh start (splits included). */
  invokeCount: number;
}

class Source {
  readonly counters: StreamSourceStats = { invocations: 0, records: 0, errors: 0, skipped: 0, failureRecords: 0 };
  streamArn = '';
  partitionKey = '';
  stopped = false;

  readonly log: (line: string) => void;
  readonly batchSize: number;
  readonly windowMs: number;
  readonly pollIntervalMs: number;
  readonly discoveryIntervalMs: number;
  readonly maxRetryAttempts: number;
  readonly maxRecordAgeMs: number;
  readonly functionArn: string;
  readonly factor: number;
  readonly functionName: string;
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
    this.batchSize = integerIn('batchSize', opts.batchSize, 100, 1, 10_000);
    this.windowMs = integerIn('maxBatchingWindowMs', opts.maxBatchingWindowMs, 0, 0, 300_000);
    this.pollIntervalMs = integerIn('pollIntervalMs', opts.pollIntervalMs, 100, 1, 60_000);
    this.discoveryIntervalMs = integerIn(
      'shardDiscoveryIntervalMs',
      opts.shardDiscoveryIntervalMs,
      1_000,
      1,
      3_600_000,
    );
    this.maxRetryAttempts = integerIn('maxRetryAttempts', opts.maxRetryAttempts, -1, -1, 10_000);
    this.maxRecordAgeMs = integerIn('maxRecordAgeMs', opts.maxRecordAgeMs, -1, -1, 604_800_000);
    this.factor = integerIn('parallelizationFactor', opts.parallelizationFactor, 1, 1, 10);
    this.functionName = opts.functionName ?? `${opts.tableName}-stream`;
    this.functionArn =
      opts.functionArn ?? lambdaContext(this.functionName, { region: opts.region ?? 'us-east-1' }).invokedFunctionArn;
    const config = {
      endpoint: opts.dynamoEndpoint,
      region: opts.region ?? 'us-east-1',
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
    const table = (await this.dynamo.send(new DescribeTableCommand({ TableName: this.opts.tableName }))).Table;
    const arn: string | undefined = table?.LatestStreamArn;
    if (!arn || table?.StreamSpecification?.StreamEnabled === false) {
      throw new Error(`${this.name}: table ${this.opts.tableName} has no enabled stream (StreamSpecification)`);
    }
    this.streamArn = arn;
    const hash = (table.KeySchema as { AttributeName?: string; KeyType?: string }[] | undefined)?.find(
      (k) => k.KeyType === 'HASH',
    );
    this.partitionKey = hash?.AttributeName ?? '';

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
      `${this.name}: reading ${arn} from ${latest ? 'LATEST' : 'TRIM_HORIZON'} (${fresh.length} shard${fresh.length === 1 ? '' : 's'}, batch ${this.batchSize})`,
    );
  }

  private async describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStart: string | undefined;
    do {
      const out = await this.streams.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ...(exclusiveStart ? { ExclusiveStartShardId: exclusiveStart } : {}),
        }),
        { abortSignal: this.abort.signal },
      );
      shards.push(...((out.StreamDescription?.Shards as Shard[] | undefined) ?? []));
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
    const table = (
      await this.dynamo.send(new DescribeTableCommand({ TableName: this.opts.tableName }), {
        abortSignal: this.abort.signal,
      })
    ).Table;
    const arn: string | undefined = table?.LatestStreamArn;
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

class ShardWorker {
  private iterator: string | undefined;
  /** Where acquire() starts when there is no iterator and nothing was read yet. */
  private startType: 'LATEST' | 'TRIM_HORIZON';
  private lastSeq: bigint | undefined;
  private lastSeqText: string | undefined;
  private closed = false;
  private buffered = 0;
  private fillTicket = 0;
  private caughtUpTicket = -1;
  private errorDelay: number | undefined;
  private trimmedInARow = 0;
  private readonly lanes: Lane[];
  private readonly sleeper = new Sleeper();
  finished = false;
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly source: Source,
    readonly id: string,
    readonly parentId: string | undefined,
    startType: 'LATEST' | 'TRIM_HORIZON',
  ) {
    this.startType = startType;
    this.lanes = Array.from({ length: source.factor }, () => ({
      queue: [],
      busy: false,
      attempts: 0,
      retryCount: undefined,
      notBefore: 0,
      freedTicket: 0,
      lastRequestId: '',
      invokeCount: 0,
    }));
  }

  private get cap(): number {
    return this.source.batchSize * this.source.factor;
  }

  start(): void {
    this.done = this.run();
  }

  wake(): void {
    this.sleeper.wake();
  }

  drainedSince(ticket: number): boolean {
    return this.finished || (this.caughtUpTicket > ticket && this.buffered === 0);
  }

  /**
   * Forgets the iterator (it may have expired while the server was down) and polls again now. Only
   * when a record was read: a LATEST iterator taken on an empty shard is the sole record of where
   * "from now" began, and re-taking LATEST would skip what was written since the restart.
   */
  reattach(): void {
    if (this.lastSeqText !== undefined) this.iterator = undefined;
    this.errorDelay = undefined;
    this.wake();
  }

  describeState(): string {
    const retrying = this.lanes.some((l) => l.attempts > 0 || l.retryCount !== undefined);
    return `shard ${this.id}: ${this.buffered} record(s) pending${retrying ? ', a batch is failing' : ''}${this.closed ? ', closed' : ''}`;
  }

  private async run(): Promise<void> {
    const s = this.source;
    try {
      // Lineage: a child shard's records follow its parent's, so the parent is read to its end first.
      const parent = s.worker(this.parentId);
      if (parent && !parent.finished) await Promise.race([parent.done, s.whenStopped]);
      while (!s.stopped) {
        await this.fill();
        this.dispatch();
        s.notify(); // a poll may have caught up: a drain() may be waiting for that
        if (this.closed && this.buffered === 0) break;
        await this.sleeper.sleep(this.nextDelay());
      }
    } catch (err) {
      if (!s.stopped) s.log(`${s.name}: shard ${this.id} stopped on an unexpected error: ${describe(err)}`);
    } finally {
      this.finished = true;
      s.notify();
    }
  }

  /** Gets an iterator at the right place: after the last record read, else where this shard starts. */
  async acquire(from?: 'TRIM_HORIZON'): Promise<boolean> {
    const s = this.source;
    for (let failures = 0; !s.stopped; failures++) {
      const position =
        from === undefined && this.lastSeqText !== undefined
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: this.lastSeqText }
          : { ShardIteratorType: from ?? this.startType };
      try {
        const out = await s.streams.send(
          new GetShardIteratorCommand({ StreamArn: s.streamArn, ShardId: this.id, ...position }),
          {
            abortSignal: s.abort.signal,
          },
        );
        s.clearError(this.id);
        this.iterator = out.ShardIterator;
        if (!this.iterator) this.close();
        return this.iterator !== undefined;
      } catch (err) {
        if (s.stopped) return false;
        if (errorName(err) === 'ResourceNotFoundException') {
          s.log(`${s.name}: shard ${this.id} is gone (${describe(err)}); finishing it`);
          this.close();
          return false;
        }
        if (errorName(err) === 'TrimmedDataAccessException' && from === undefined) {
          from = 'TRIM_HORIZON';
          continue;
        }
        s.reportError(this.id, `GetShardIterator on shard ${this.id} failed: ${describe(err)}`);
        await this.sleeper.sleep(backoffMs(failures + 1));
      }
    }
    return false;
  }

  private close(): void {
    this.closed = true;
    this.caughtUpTicket = Number.POSITIVE_INFINITY;
    this.source.discoverSoon();
  }

  /** Reads what the shard holds now into the lanes, up to the buffer cap. */
  private async fill(): Promise<void> {
    const s = this.source;
    this.fillTicket = s.tick();
    let restartFrom: 'TRIM_HORIZON' | undefined;
    while (!s.stopped && !this.closed && this.buffered < this.cap) {
      if (this.iterator === undefined && !(await this.acquire(restartFrom))) return;
      restartFrom = undefined;
      const limit = Math.min(maxGetRecordsLimit, this.cap - this.buffered);
      const ticket = s.tick();
      let out: GetRecordsOutput;
      try {
        out = await s.streams.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: limit }), {
          abortSignal: s.abort.signal,
        });
        s.clearError(this.id);
      } catch (err) {
        if (s.stopped) return;
        const name = errorName(err);
        if (name === 'ExpiredIteratorException') {
          this.iterator = undefined; // acquire() resumes after the last record read
          continue;
        }
        if (name === 'TrimmedDataAccessException') {
          // See the top of the file: on DynamoDB Local this is the empty-shard iterator bug, not lost data.
          if (this.lastSeqText !== undefined)
            s.log(`${s.name}: shard ${this.id} was trimmed past ${this.lastSeqText}; records were lost`);
          this.iterator = undefined;
          restartFrom = 'TRIM_HORIZON';
          if (++this.trimmedInARow > 1) {
            this.errorDelay = backoffMs(this.trimmedInARow - 1);
            return;
          }
          continue;
        }
        if (name === 'ResourceNotFoundException') {
          s.log(`${s.name}: shard ${this.id} is gone (${describe(err)}); finishing it`);
          this.close();
          return;
        }
        s.reportError(this.id, `GetRecords on shard ${this.id} failed: ${describe(err)}`);
        this.errorDelay = backoffMs(2);
        return;
      }
      this.trimmedInARow = 0;
      const records = (out.Records as _Record[] | undefined) ?? [];
      for (const record of records) this.accept(record);
      if (out.NextShardIterator) this.iterator = out.NextShardIterator;
      else this.close();
      if (records.length === 0) {
        this.caughtUpTicket = Math.max(this.caughtUpTicket, ticket);
        return;
      }
      if (records.length < limit) return; // very likely the end; the next poll confirms it
    }
  }

  private accept(record: _Record): void {
    const seqText = record.dynamodb?.SequenceNumber;
    if (!seqText) return;
    const seq = BigInt(seqText);
    // A re-taken iterator must not hand us a record twice.
    if (this.lastSeq !== undefined && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.lastSeqText = seqText;
    const json = JSON.stringify(toLambdaRecord(record, this.source.streamArn));
    const lane = this.lanes[this.laneOf(record)];
    if (!lane) return;
    const created = record.dynamodb?.ApproximateCreationDateTime;
    lane.queue.push({
      seq: seqText,
      created: created === undefined ? undefined : created instanceof Date ? created.getTime() / 1000 : Number(created),
      json,
      bytes: Buffer.byteLength(json),
      arrivedAt: Date.now(),
    });
    this.buffered++;
  }

  private laneOf(record: _Record): number {
    if (this.lanes.length === 1) return 0;
    const key = JSON.stringify(record.dynamodb?.Keys?.[this.source.partitionKey] ?? record.dynamodb?.Keys ?? null);
    // FNV-1a: stable across runs, so a key keeps its lane.
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
    return h % this.lanes.length;
  }

  private dispatch(): void {
    const s = this.source;
    if (s.stopped) return;
    const now = Date.now();
    for (const lane of this.lanes) {
      const head = lane.queue[0];
      if (lane.busy || !head) continue;
      if (s.maxRecordAgeMs >= 0 && now - head.arrivedAt > s.maxRecordAgeMs) {
        this.giveUpOld(lane, now);
        continue;
      }
      if (now < lane.notBefore) continue;
      if (lane.retryCount !== undefined) {
        this.invoke(lane, lane.retryCount);
        continue;
      }
      // A fresh batch holds what the shard has when it is formed: one poll after the last invocation
      // ended, so records written during a slow invocation all go into the next one.
      if (lane.freedTicket > this.fillTicket) continue;
      const count = this.batchCount(lane.queue);
      const full = count === lane.queue.length ? count >= s.batchSize : true;
      if (s.windowMs > 0 && !full && !this.closed && now - head.arrivedAt < s.windowMs) continue;
      this.invoke(lane, count);
    }
  }

  /** As many head records as batchSize and Lambda's 6 MB payload allow, at least one. */
  private batchCount(queue: readonly Fetched[]): number {
    let bytes = eventEnvelopeBytes;
    let count = 0;
    for (const f of queue) {
      if (count >= this.source.batchSize) break;
      if (count > 0 && bytes + f.bytes + 1 > maxPayloadBytes) break;
      bytes += f.bytes + 1;
      count++;
    }
    return count;
  }

  private invoke(lane: Lane, count: number): void {
    const s = this.source;
    lane.busy = true;
    const batch = lane.queue.slice(0, count);
    s.counters.invocations++;
    s.counters.records += count;
    lane.invokeCount++;
    const run = (async () => {
      let failedFrom: number | undefined;
      let error: unknown;
      let threw = false;
      try {
        const event = JSON.parse(`{"Records":[${batch.map((f) => f.json).join(',')}]}`);
        const context = lambdaContext(s.functionName);
        lane.lastRequestId = context.awsRequestId;
        const result = await s.opts.invoke(event, context);
        if (s.opts.reportBatchItemFailures) {
          failedFrom = checkpoint(result, batch);
          if (failedFrom !== undefined)
            error = new Error(`the handler reported failed items from ${batch[failedFrom]?.seq}`);
        }
      } catch (err) {
        failedFrom = 0;
        error = err;
        threw = true;
      }
      this.settle(lane, count, failedFrom, error, threw);
    })();
    s.track(run);
  }

  private settle(lane: Lane, count: number, failedFrom: number | undefined, error: unknown, threw = false): void {
    const s = this.source;
    lane.busy = false;
    lane.freedTicket = s.tick();
    const remove = (n: number) => {
      lane.queue.splice(0, n);
      this.buffered -= n;
    };
    if (failedFrom === undefined) {
      if (lane.attempts > 0)
        s.log(`${s.name}: shard ${this.id}: batch succeeded after ${lane.attempts} failed attempt(s)`);
      remove(count);
      lane.attempts = 0;
      lane.retryCount = undefined;
      lane.notBefore = 0;
      lane.invokeCount = 0;
    } else {
      s.counters.errors++;
      remove(failedFrom);
      const remaining = count - failedFrom;
      if (threw && this.source.opts.bisectBatchOnError && remaining > 1) {
        // Lambda's bisection: the first half again at once, without spending a retry; the second
        // half follows once the first is through.
        lane.retryCount = Math.ceil(remaining / 2);
        lane.notBefore = 0;
        s.log(
          `${s.name}: shard ${this.id}: batch of ${remaining} failed, retrying its first ${lane.retryCount}: ${describe(error)}`,
        );
        this.sleeper.wake();
        s.notify();
        return;
      }
      lane.attempts++;
      if (s.maxRetryAttempts >= 0 && lane.attempts > s.maxRetryAttempts) {
        this.giveUp(
          lane,
          remaining,
          'RetryAttemptsExhausted',
          `after ${lane.attempts} failed attempt(s): ${describe(error)}`,
          () => {
            lane.attempts = 0;
            lane.retryCount = undefined;
            lane.notBefore = 0;
            lane.invokeCount = 0;
          },
        );
        return;
      } else {
        // Later records of the lane wait behind this batch: that is what keeps a shard in order.
        if (lane.attempts === 1 || lane.attempts % 10 === 0) {
          s.log(
            `${s.name}: shard ${this.id}: batch of ${remaining} failed (attempt ${lane.attempts}), retrying: ${describe(error)}`,
          );
        }
        lane.retryCount = remaining;
        lane.notBefore = Date.now() + backoffMs(lane.attempts);
      }
    }
    this.sleeper.wake();
    s.notify();
  }

  /** Records at the head of the lane older than maxRecordAgeMs (within the batch being retried, if one is). */
  private giveUpOld(lane: Lane, now: number): void {
    const s = this.source;
    // A fresh batch is at most batchSize records: so is the record of its old part.
    const within = lane.retryCount ?? Math.min(lane.queue.length, s.batchSize);
    let old = 0;
    while (old < within && now - (lane.queue[old]?.arrivedAt ?? now) > s.maxRecordAgeMs) old++;
    const rest = lane.retryCount === undefined ? undefined : lane.retryCount - old;
    this.giveUp(lane, old, 'RecordAgeExceeded', `older than ${s.maxRecordAgeMs} ms`, () => {
      // What is left of a batch being retried is still that batch, with its attempts.
      lane.retryCount = rest === 0 ? undefined : rest;
      if (lane.retryCount === undefined) {
        lane.attempts = 0;
        lane.notBefore = 0;
        lane.invokeCount = 0;
      }
    });
  }

  /**
   * Sends the lane's first `count` records' place to the on-failure destination, then drops them.
   * The lane stays busy until the destination took the record: nothing later is processed first.
   */
  private giveUp(lane: Lane, count: number, condition: StreamFailureCondition, why: string, after: () => void): void {
    const s = this.source;
    const batch = lane.queue.slice(0, count);
    const first = batch[0];
    const last = batch[batch.length - 1];
    if (!first || !last) return;
    lane.busy = true;
    const arrival = (f: Fetched) =>
      f.created === undefined ? undefined : new Date(f.created * 1000).toISOString().replace('.000Z', 'Z');
    const firstArrival = arrival(first);
    const lastArrival = arrival(last);
    const record: StreamFailureRecord = {
      requestContext: {
        requestId: lane.lastRequestId,
        functionArn: s.functionArn,
        condition,
        approximateInvokeCount: lane.invokeCount,
      },
      ...(lane.invokeCount > 0
        ? { responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' } }
        : {}),
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: this.id,
        startSequenceNumber: first.seq,
        endSequenceNumber: last.seq,
        ...(firstArrival ? { approximateArrivalOfFirstRecord: firstArrival } : {}),
        ...(lastArrival ? { approximateArrivalOfLastRecord: lastArrival } : {}),
        batchSize: count,
        streamArn: s.streamArn,
      },
    };
    const run = (async () => {
      const onFailure = s.opts.onFailure;
      for (let failures = 0; onFailure; failures++) {
        try {
          await onFailure(record);
          s.counters.failureRecords++;
          s.clearError(`${this.id}:destination`);
          break;
        } catch (err) {
          if (s.stopped) return;
          s.reportError(
            `${this.id}:destination`,
            `shard ${this.id}: the on-failure destination failed, trying again: ${describe(err)}`,
          );
          await new Promise((resolve) => setTimeout(resolve, backoffMs(failures + 1)));
          if (s.stopped) return;
        }
      }
      s.log(
        `${s.name}: shard ${this.id}: gave up ${count} record(s) ${first.seq}..${last.seq} (${condition}) ${why}` +
          (onFailure
            ? '; their place went to the on-failure destination'
            : '; no on-failure destination, they are lost'),
      );
      s.counters.skipped += count;
      lane.queue.splice(0, count);
      this.buffered -= count;
      after();
      lane.busy = false;
      lane.freedTicket = s.tick();
      this.sleeper.wake();
      s.notify();
    })();
    s.track(run);
  }

  private nextDelay(): number {
    const s = this.source;
    let delay = this.errorDelay ?? s.pollIntervalMs;
    this.errorDelay = undefined;
    const now = Date.now();
    for (const lane of this.lanes) {
      const head = lane.queue[0];
      if (lane.busy || !head) continue;
      if (s.maxRecordAgeMs >= 0) delay = Math.min(delay, head.arrivedAt + s.maxRecordAgeMs + 1 - now);
      if (lane.retryCount !== undefined) delay = Math.min(delay, lane.notBefore - now);
      else if (s.windowMs > 0) delay = Math.min(delay, head.arrivedAt + s.windowMs - now);
    }
    return Math.max(0, delay);
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
