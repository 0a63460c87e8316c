// Per-record failure reporting of the three stream triggers, and the delivery watchdog, on fakes.
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { wakeBatch } from '../../functions/delivery-wake';
import { tallyBatch } from '../../functions/repost-tally';
import { statsBatch } from '../../functions/viewer-stats';
import { DeliveryWatchdog } from '../../shared/domain/delivery/watchdog';
import { wakeEvents } from '../../shared/domain/delivery/wake';
import type { DeliveryWatch, RepostStore, ShardState, StreamedRepost } from '../../shared/domain/ports';
import { RepostTally } from '../../shared/domain/reposts/repost-tally';
import { initialDetectorState } from '../../shared/domain/reposts/spike-detector';
import { StatsPublisher } from '../../shared/domain/stats-publisher';
import { shardOf } from '../../shared/domain/sharding';
import { CONNECTION_SHARDS } from '../../shared/domain/sharding';
import { eventRecord, FakeEvents, FakeLeases, FakeViewerCounts, silentLog } from '../support/fakes';

const seqNo = (n: number) => String(n).padStart(21, '0');
const batch = (records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: structuredClone(records) });

/** A fake of the watch list on top of the fake leases, as DynamoLeaseStore keeps both in one table. */
class FakeWatch implements DeliveryWatch {
  readonly list = new Map<string, number>();
  failWrites = false;
  constructor(
    private readonly leases: FakeLeases,
    private readonly now: () => number = Date.now,
  ) {}
  async watch(ids: readonly string[], at: number) {
    if (this.failWrites) throw new Error('DynamoDB is down');
    for (const id of ids) this.list.set(id, at);
  }
  async watched() {
    return new Map(this.list);
  }
  async unwatch(eventId: string, at: number) {
    if (this.list.get(eventId) === at) this.list.delete(eventId);
  }
  async shardStates(eventId: string, shards: readonly number[]): Promise<ShardState[]> {
    return shards.map((shard) => {
      const item = this.leases.items.get(`${eventId}#${shard}`);
      return { shard, cursor: item?.cursor ?? 0, held: !!item?.owner && (item.until ?? 0) >= this.now() };
    });
  }
}

/** Worker starts, recorded; events named here fail to start. */
class Starts {
  readonly started: string[] = [];
  readonly failing = new Set<string>();
  async start(eventId: string, shard: number) {
    if (this.failing.has(eventId)) throw new Error('Lambda said TooManyRequestsException');
    this.started.push(`${eventId}#${shard}`);
  }
}

describe('DeliveryWake reports per-event failures', () => {
  const change = (eventId: string, changeNo: number, seq: number): DynamoDBRecord => ({
    eventName: 'INSERT',
    dynamodb: { Keys: { eventId: { S: eventId }, changeNo: { N: String(changeNo) } }, SequenceNumber: seqNo(seq) },
  });

  it('answers the first record of an event whose wake-up failed, and still wakes the others', async () => {
    const leases = new FakeLeases();
    const watch = new FakeWatch(leases);
    const starter = new Starts();
    starter.failing.add('evB');
    const result = await wakeBatch(
      batch([change('evA', 1, 100), change('evB', 7, 200), change('evA', 2, 300), change('evB', 8, 400)]),
      {
        leases,
        watch,
        starter,
        log: silentLog,
        now: () => 5_000,
      },
    );
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(200) }] });
    expect(starter.started.filter((s) => s.startsWith('evA#'))).toHaveLength(CONNECTION_SHARDS);
    // Both on the watch list: the watchdog heals evB even if its retries run out.
    expect([...watch.list]).toEqual([
      ['evA', 5_000],
      ['evB', 5_000],
    ]);
  });

  it('answers no failures when every event woke', async () => {
    const leases = new FakeLeases();
    const result = await wakeBatch(batch([change('evA', 1, 100)]), {
      leases,
      watch: new FakeWatch(leases),
      starter: new Starts(),
      log: silentLog,
      now: Date.now,
    });
    expect(result).toEqual({ batchItemFailures: [] });
  });

  it('counts the workers it started across events woken side by side', async () => {
    const leases = new FakeLeases();
    await leases.acquire('evB', 3, 'running', 30_000);
    const starter = new Starts();
    const { started, failed } = await wakeEvents(['evA', 'evB', 'evA'], {
      leases,
      watch: new FakeWatch(leases),
      starter,
      log: silentLog,
      now: Date.now,
    });
    expect(failed.size).toBe(0);
    expect(started).toBe(2 * CONNECTION_SHARDS - 1);
    expect(starter.started).toHaveLength(started);
  });

  it('fails the whole batch, starting nobody, when the watch list cannot be written', async () => {
    const leases = new FakeLeases();
    const watch = new FakeWatch(leases);
    watch.failWrites = true;
    const starter = new Starts();
    await expect(
      wakeBatch(batch([change('evA', 1, 100)]), { leases, watch, starter, log: silentLog, now: Date.now }),
    ).rejects.toThrow(/down/);
    expect(starter.started).toEqual([]);
  });
});

describe('ViewerStats reports per-event failures', () => {
  const conn = (eventName: 'INSERT' | 'REMOVE' | 'MODIFY', pk: string, seq: number): DynamoDBRecord => {
    const row = { pk: { S: pk }, connectionId: { S: `c${seq}` }, role: { S: 'viewer' } };
    return {
      eventName,
      dynamodb: {
        Keys: { pk: { S: pk }, connectionId: { S: `c${seq}` } },
        ...(eventName !== 'REMOVE' ? { NewImage: row } : {}),
        ...(eventName !== 'INSERT' ? { OldImage: row } : {}),
        SequenceNumber: seqNo(seq),
      },
    };
  };

  it('answers the first record of the event whose stats frame failed', async () => {
    const framed: string[] = [];
    const entries = {
      appendFrame: async (eventId: string) => {
        if (eventId === 'evBad') throw new Error('TransactionCanceledException');
        framed.push(eventId);
        return { appended: true as const, changeNo: 1 };
      },
    };
    const viewers = new FakeViewerCounts();
    const result = await statsBatch(
      batch([
        conn('MODIFY', 'evBad#1', 10),
        conn('INSERT', 'evOk#3', 20),
        conn('INSERT', 'evBad#2', 30),
        conn('REMOVE', 'evOk#5', 40),
      ]),
      {
        viewers,
        stats: new StatsPublisher({ reposts: {} as RepostStore, entries, viewers, now: Date.now }),
        log: silentLog,
      },
    );
    // The MODIFY at 10 moves no audience: the failure starts at evBad's first connect.
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(30) }] });
    expect(framed).toEqual(['evOk']);
  });
});

/** The tally's counters with the adapter's rule: per partition, a watermark of the last sequence number counted. */
class WatermarkedReposts implements Partial<RepostStore> {
  readonly totalsBySeq = new Map<string, number>();
  readonly watermark = new Map<string, string>();
  /** Events whose next tally fails (once), after part of it committed, as a transaction past 100 actions can. */
  readonly failOnce = new Set<string>();

  async tally(eventId: string, reposts: readonly StreamedRepost[]) {
    let counted = 0;
    for (const [i, r] of reposts.entries()) {
      if (this.failOnce.has(eventId) && i === 1) {
        this.failOnce.delete(eventId);
        throw new Error('ProvisionedThroughputExceededException');
      }
      const partition = `${eventId}#${shardOf(r.connectionId)}`;
      if ((this.watermark.get(partition) ?? '') >= r.sequence) continue;
      this.watermark.set(partition, r.sequence);
      const key = `${eventId}/${r.seq}`;
      this.totalsBySeq.set(key, (this.totalsBySeq.get(key) ?? 0) + 1);
      counted++;
    }
    return counted;
  }
  async totals(eventId: string) {
    return new Map(
      [...this.totalsBySeq].filter(([k]) => k.startsWith(`${eventId}/`)).map(([k, v]) => [Number(k.split('/')[1]), v]),
    );
  }
  async seconds() {
    return [];
  }
  async detector() {
    return { state: initialDetectorState(), version: 0 };
  }
  async saveDetector() {
    return true;
  }
  async watchOpenSpike() {}
}

describe('RepostTally reports per-event failures, and a retry from there counts exactly', () => {
  const repost = (eventId: string, seq: number, connectionId: string, sequence: number): DynamoDBRecord => ({
    eventName: 'INSERT',
    dynamodb: {
      NewImage: {
        eventId: { S: eventId },
        seq: { N: String(seq) },
        connectionId: { S: connectionId },
        at: { N: '1780000000000' },
      },
      SequenceNumber: seqNo(sequence),
    },
  });
  const records = [
    repost('evA', 1, 'a1', 1),
    repost('evB', 1, 'b1', 2),
    repost('evA', 1, 'a2', 3),
    repost('evB', 1, 'b2', 4),
    repost('evA', 1, 'a3', 5),
    repost('evB', 1, 'b3', 6),
  ];
  /** One container's tally: the same one sees the retries, as a warm Lambda would. */
  const deps = (store: WatermarkedReposts) => {
    const tallyDeps = {
      reposts: store as unknown as RepostStore,
      entries: { appendFrame: async () => ({ appended: true as const, changeNo: 1 }) },
      now: () => 1_780_000_010_000,
      log: silentLog,
    };
    const stats = new StatsPublisher({ ...tallyDeps, viewers: new FakeViewerCounts() });
    return { tally: new RepostTally(tallyDeps, stats), log: silentLog };
  };

  /** What Lambda does with the answer: retry from the failed record on, until none fails. */
  async function asLambda(store: WatermarkedReposts): Promise<string[]> {
    const answers: string[] = [];
    let rest = records;
    const lambda = deps(store);
    for (let attempt = 0; attempt < 5 && rest.length > 0; attempt++) {
      const { batchItemFailures } = await tallyBatch(batch(rest), lambda);
      const from = batchItemFailures[0]?.itemIdentifier;
      if (from === undefined) break;
      answers.push(from);
      rest = rest.slice(rest.findIndex((r) => r.dynamodb?.SequenceNumber === from));
    }
    return answers;
  }

  it('a failure of the first event: retried from its first record; the other event, counted meanwhile, is not counted twice', async () => {
    const store = new WatermarkedReposts();
    store.failOnce.add('evA');
    expect(await asLambda(store)).toEqual([seqNo(1)]);
    expect(Object.fromEntries(store.totalsBySeq)).toEqual({ 'evA/1': 3, 'evB/1': 3 });
  });

  it("a failure of the second event: the first event's records before it are checkpointed, those after it come again and count nothing", async () => {
    const store = new WatermarkedReposts();
    store.failOnce.add('evB');
    expect(await asLambda(store)).toEqual([seqNo(2)]);
    expect(Object.fromEntries(store.totalsBySeq)).toEqual({ 'evA/1': 3, 'evB/1': 3 });
  });
});

describe('DeliveryWatchdog', () => {
  function setup() {
    let now = 1_000_000;
    const clock = () => now;
    const events = new FakeEvents();
    const leases = new FakeLeases(clock);
    const watch = new FakeWatch(leases, clock);
    const starter = new Starts();
    const dog = new DeliveryWatchdog(
      { watch, leases, events, starter, log: silentLog, now: clock },
      { watchForMs: 60_000 },
    );
    /** Every shard let go at `cursor`, as idle workers leave them. */
    const caughtUp = (eventId: string, cursor: number) => {
      for (let s = 0; s < CONNECTION_SHARDS; s++) leases.items.set(`${eventId}#${s}`, { cursor });
    };
    return { events, leases, watch, starter, dog, caughtUp, advance: (ms: number) => (now += ms), now: clock };
  }

  it('wakes the shards of a change whose wake-up was lost, at the second check that finds them behind', async () => {
    const t = setup();
    t.events.items.set('ev1', eventRecord('ev1', { lastChange: 3 }));
    t.caughtUp('ev1', 2);
    await t.watch.watch(['ev1'], t.now());
    // The first sighting may be a wake-up still on its way: no start yet.
    expect(await t.dog.check()).toMatchObject({ watched: 1, woken: 0 });
    t.advance(2_000);
    expect(await t.dog.check()).toMatchObject({ woken: CONNECTION_SHARDS });
    expect(t.starter.started).toHaveLength(CONNECTION_SHARDS);
  });

  it('leaves alone shards with a live worker, and changes that arrived since the last check', async () => {
    const t = setup();
    t.events.items.set('ev1', eventRecord('ev1', { lastChange: 3 }));
    t.caughtUp('ev1', 3);
    await t.leases.acquire('ev1', 4, 'worker-4', 30_000);
    await t.watch.watch(['ev1'], t.now());
    expect(await t.dog.check()).toMatchObject({ woken: 0 });
    // Change 4 commits; shard 4's worker has it in hand.
    t.events.items.get('ev1')!.lastChange = 4;
    t.advance(2_000);
    expect(await t.dog.check()).toMatchObject({ woken: 0 });
    t.advance(2_000);
    // Still behind change 4 at the next check, with no worker: lost. Shard 4 is still leased.
    expect(await t.dog.check()).toMatchObject({ woken: CONNECTION_SHARDS - 1 });
    expect(t.starter.started).not.toContain('ev1#4');
  });

  it('takes an event off the list once it is caught up and quiet, keeps it while a wake-up marked it since', async () => {
    const t = setup();
    t.events.items.set('ev1', eventRecord('ev1', { lastChange: 3 }));
    t.caughtUp('ev1', 3);
    await t.watch.watch(['ev1'], t.now());
    expect(await t.dog.check()).toMatchObject({ unwatched: 0 });
    t.advance(61_000);
    expect(await t.dog.check()).toMatchObject({ unwatched: 1 });
    expect(t.watch.list.size).toBe(0);
    // Gone from the events table: nothing to deliver.
    await t.watch.watch(['gone'], t.now());
    expect(await t.dog.check()).toMatchObject({ unwatched: 1, woken: 0 });
  });
});
