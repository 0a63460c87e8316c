// One shard of the local DynamoDB Streams mapping: keeps an iterator at the right place, polls
// GetRecords, and hands what it reads to the shard's batches (local/stream-batches.ts). The
// DynamoDB Local behaviour these workarounds depend on is described at the top of
// local/stream-source.ts.
import {
  type _Record,
  GetRecordsCommand,
  type GetRecordsOutput,
  GetShardIteratorCommand,
  type GetShardIteratorOutput,
} from '@aws-sdk/client-dynamodb-streams';
import { toLambdaRecord } from '../shared/adapters/stream-records';
import { attempts } from '../shared/retry';
import { describe, type MappingHost, retryDelayMs, ShardBatches, untilStopped } from './stream-batches';
import { Sleeper } from './sleeper';

/** The two calls the source makes on each client; the real SDK clients fit, and so does a scripted fake in tests. */
export interface SendClient {
  // `any` on purpose: one seam for both SDK clients and a scripted fake; the callers type each answer.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>;
  destroy(): void;
}

/** What a shard worker needs from its source beyond what its batches do. */
export interface ShardHost extends MappingHost {
  readonly streams: SendClient;
  readonly abort: AbortController;
  readonly whenStopped: Promise<void>;
  /** How often a shard with nothing new is polled. */
  readonly pollIntervalMs: number;
  worker(id: string | undefined): ShardWorker | undefined;
  /** Runs DescribeStream now: a shard closed, so its children may be there. */
  discoverSoon(): void;
}

type StartType = 'LATEST' | 'TRIM_HORIZON';

const maxGetRecordsLimit = 1000;
const errorName = (err: unknown) => (err instanceof Error ? err.name : '');

export class ShardWorker {
  private iterator: string | undefined;
  /** Where acquire() starts when there is no iterator and nothing was read yet. */
  private readonly startType: StartType;
  private lastSeq: bigint | undefined;
  private lastSeqText: string | undefined;
  private closed = false;
  private fillTicket = 0;
  private caughtUpTicket = -1;
  private errorDelay: number | undefined;
  private trimmedInARow = 0;
  private readonly batches: ShardBatches;
  private readonly sleeper = new Sleeper();
  finished = false;
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly source: ShardHost,
    readonly id: string,
    readonly parentId: string | undefined,
    startType: StartType,
  ) {
    this.startType = startType;
    this.batches = new ShardBatches(source, id, () => this.wake());
  }

  /** Records read and not yet through the handler: at most a batch is read ahead. */
  private get cap(): number {
    return this.source.settings.batchSize;
  }

  start(): void {
    this.done = this.run();
  }

  wake(): void {
    this.sleeper.wake();
  }

  drainedSince(ticket: number): boolean {
    return this.finished || (this.caughtUpTicket > ticket && this.batches.pending === 0);
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
    const retrying = this.batches.failing;
    return `shard ${this.id}: ${this.batches.pending} record(s) pending${retrying ? ', a batch is failing' : ''}${this.closed ? ', closed' : ''}`;
  }

  private async run(): Promise<void> {
    const s = this.source;
    try {
      // Lineage: a child shard's records follow its parent's, so the parent is read to its end first.
      const parent = s.worker(this.parentId);
      if (parent && !parent.finished) await Promise.race([parent.done, s.whenStopped]);
      while (!s.stopped) {
        await this.fill();
        this.batches.dispatch(this.fillTicket, this.closed);
        s.notify(); // a poll may have caught up: a drain() may be waiting for that
        if (this.closed && this.batches.pending === 0) break;
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
    const sleep = (ms: number) => this.sleeper.sleep(ms);
    for await (const _attempt of attempts({ ...untilStopped, sleep })) {
      if (this.source.stopped) return false;
      let got = await this.tryAcquire(from);
      if (got === 'trimmed') {
        // See the top of local/stream-source.ts: the empty-shard iterator bug; the shard's start is right.
        from = 'TRIM_HORIZON';
        got = await this.tryAcquire(from);
      }
      if (typeof got === 'boolean') return got;
    }
    return false;
  }

  /** One GetShardIterator: whether the shard has an iterator now, or why to try again. */
  private async tryAcquire(from: 'TRIM_HORIZON' | undefined): Promise<boolean | 'trimmed' | 'retry'> {
    const s = this.source;
    const position =
      from === undefined && this.lastSeqText !== undefined
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: this.lastSeqText }
        : { ShardIteratorType: from ?? this.startType };
    try {
      const out = (await s.streams.send(
        new GetShardIteratorCommand({ StreamArn: s.streamArn, ShardId: this.id, ...position }),
        { abortSignal: s.abort.signal },
      )) as GetShardIteratorOutput;
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
      if (errorName(err) === 'TrimmedDataAccessException' && from === undefined) return 'trimmed';
      s.reportError(this.id, `GetShardIterator on shard ${this.id} failed: ${describe(err)}`);
      return 'retry';
    }
  }

  private close(): void {
    this.closed = true;
    this.caughtUpTicket = Number.POSITIVE_INFINITY;
    this.source.discoverSoon();
  }

  /** Reads what the shard holds now into the batches, up to the buffer cap. */
  private async fill(): Promise<void> {
    const s = this.source;
    this.fillTicket = s.tick();
    let restartFrom: 'TRIM_HORIZON' | undefined;
    while (!s.stopped && !this.closed && this.batches.pending < this.cap) {
      if (this.iterator === undefined && !(await this.acquire(restartFrom))) return;
      restartFrom = undefined;
      const limit = Math.min(maxGetRecordsLimit, this.cap - this.batches.pending);
      const ticket = s.tick();
      let out: GetRecordsOutput;
      try {
        out = (await s.streams.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: limit }), {
          abortSignal: s.abort.signal,
        })) as GetRecordsOutput;
        s.clearError(this.id);
      } catch (err) {
        const next = this.afterGetRecordsError(err);
        if (next === 'stop') return;
        restartFrom = next === 'trim-horizon' ? 'TRIM_HORIZON' : undefined;
        continue;
      }
      this.trimmedInARow = 0;
      const records = out.Records ?? [];
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

  /** What a failed GetRecords means for this fill: read again (at once, or from the shard's start), or stop until the next poll. */
  private afterGetRecordsError(err: unknown): 'again' | 'trim-horizon' | 'stop' {
    const s = this.source;
    if (s.stopped) return 'stop';
    const name = errorName(err);
    if (name === 'ExpiredIteratorException') {
      this.iterator = undefined; // acquire() resumes after the last record read
      return 'again';
    }
    if (name === 'TrimmedDataAccessException') {
      // See the top of local/stream-source.ts: on DynamoDB Local this is the empty-shard iterator bug, not lost data.
      if (this.lastSeqText !== undefined)
        s.log(`${s.name}: shard ${this.id} was trimmed past ${this.lastSeqText}; records were lost`);
      this.iterator = undefined;
      if (++this.trimmedInARow > 1) {
        this.errorDelay = retryDelayMs(this.trimmedInARow - 1);
        return 'stop';
      }
      return 'trim-horizon';
    }
    if (name === 'ResourceNotFoundException') {
      s.log(`${s.name}: shard ${this.id} is gone (${describe(err)}); finishing it`);
      this.close();
      return 'stop';
    }
    s.reportError(this.id, `GetRecords on shard ${this.id} failed: ${describe(err)}`);
    this.errorDelay = retryDelayMs(2);
    return 'stop';
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
    const created = record.dynamodb?.ApproximateCreationDateTime;
    this.batches.push({
      seq: seqText,
      created: created === undefined ? undefined : created instanceof Date ? created.getTime() / 1000 : Number(created),
      json,
      bytes: Buffer.byteLength(json),
      arrivedAt: Date.now(),
    });
  }

  private nextDelay(): number {
    const delay = this.errorDelay ?? this.source.pollIntervalMs;
    this.errorDelay = undefined;
    return Math.max(0, this.batches.nextDelay(delay, Date.now()));
  }
}
