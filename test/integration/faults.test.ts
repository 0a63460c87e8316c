// The real local stage with faults on purpose: DynamoDB throttling, cancelling transactions on
// conflicts and losing answers after commits, for every handler and worker process; worker
// environments killed mid-delivery. Publishes must still be acked once each with gapless seqs, and
// every viewer must get every update once. The fault counters prove the faults were injected.
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultStats } from '../../local/faults';
import type { Stage, StageOptions } from '../../local/stage';
import type { AckFrame, Entry, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import { createEvent, identifiedViewerUrl, reporterUrl, testStage, viewerUrl } from '../support/stage';
import { OpenClients } from '../support/ws-client';

let stage: Stage | undefined;
const clients = new OpenClients();
afterEach(async () => {
  await clients.closeAll();
  await stage?.stop();
  stage = undefined;
});

const client = clients.connect;

const isAck = (clientId: string) => (f: ServerFrame) => f.type === 'ack' && f.clientId === clientId;
const isUpdate = (f: ServerFrame): f is UpdateFrame => f.type === 'update';

/**
 * Publishes `n` updates on a stage started with `faults`, a few at a time as a quick reporter does,
 * and checks what the users see: one ack per publish, seqs 1..n, every viewer every update once.
 */
async function ceremony(faults: StageOptions['faults'], n: number, extra: Partial<StageOptions> = {}) {
  stage = await testStage({ faults, ...extra });
  const event = await createEvent(stage);
  const reporter = await client(reporterUrl(stage, event));
  const viewers = await Promise.all([1, 2, 3].map(() => client(viewerUrl(stage!, event.eventId))));

  // One at a time, as the reporter console's outbox sends: conflicts come from the faults alone.
  const acks: AckFrame[] = [];
  for (let i = 0; i < n; i++) {
    reporter.send({ action: 'publish', clientId: `p-${i}`, text: `moment ${i}` });
    acks.push(await reporter.next<AckFrame>(isAck(`p-${i}`), { timeoutMs: 30_000 }));
  }
  expect(acks.map((a) => a.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(new Set(acks.map((a) => a.clientId)).size).toBe(n);

  const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline?limit=500`);
  const timeline = ((await res.json()) as { items: Entry[] }).items;
  expect(timeline.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));

  for (const v of viewers) {
    const got = await v.collect<UpdateFrame>(isUpdate, n, { timeoutMs: 60_000 });
    expect(got.map((u) => u.entry.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  }
  // Nothing arrives twice, even after everything settled.
  await stage.settled(60_000);
  for (const v of viewers) expect(v.frames.filter(isUpdate)).toHaveLength(n);
  // No error frame reached the reporter: the faults were absorbed, not passed on.
  expect(reporter.frames.filter((f) => f.type === 'error')).toEqual([]);
  // …and no delivery worker died of them (one that did held its shard, silent, until its lease ran out).
  expect(stage.lambda.stats().errors).toBe(0);
  return stage.faultStats();
}

// A stage start and eight publishes with their deliveries, on a machine shared with other test runs.
const SLOW = 120_000;

describe('connections and reposts under DynamoDB faults', () => {
  // Connects and disconnects are single-row writes (the viewer count left the event item), which meet
  // no transaction and so never conflict on AWS: what they can meet is throttling and 500s.
  it(
    '20% of connect and disconnect writes throttled or failed inside: every handshake still succeeds, and the count ends at 0',
    { timeout: SLOW },
    async () => {
      stage = await testStage({
        faults: {
          dynamo: {
            share: 0.2,
            tables: ['Connections'],
            operations: ['PutItem', 'DeleteItem'],
            kinds: ['throttling', 'internal'],
            seed: 8,
          },
        },
      });
      const event = await createEvent(stage);
      for (let round = 0; round < 3; round++) {
        const viewers = await Promise.all(Array.from({ length: 6 }, () => client(viewerUrl(stage!, event.eventId))));
        await Promise.all(viewers.map((v) => v.close()));
      }
      const injected = stage.faultStats().dynamo!.byKind;
      expect((injected.throttling ?? 0) + (injected.internal ?? 0)).toBeGreaterThan(0);
      await stage.settled();
      const { viewers } = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}`)).json()) as {
        viewers: number;
      };
      expect(viewers).toBe(0);
    },
  );

  it(
    'a repost whose stored answer was lost is still acked as counted, and counted once',
    { timeout: SLOW },
    async () => {
      stage = await testStage({
        faults: {
          dynamo: {
            share: 0.5,
            tables: ['Reposts'],
            operations: ['PutItem'],
            kinds: ['timeout-after-commit'],
            holdMs: 20,
            seed: 4,
          },
        },
      });
      const event = await createEvent(stage);
      const reporter = await client(reporterUrl(stage, event));
      reporter.send({ action: 'publish', clientId: 'p', text: '剪彩！' });
      await reporter.next(isAck('p'));
      // Viewer ids: on one machine's address, clients without one count once per address.
      const viewers = await Promise.all(
        Array.from({ length: 8 }, async () => client(await identifiedViewerUrl(stage!, event.eventId))),
      );
      const acks = await Promise.all(
        viewers.map(async (v, i) => {
          v.send({ action: 'repost', seq: 1, clientId: `r${i}` });
          return v.next<ServerFrame & { counted?: boolean }>((f) => f.type === 'ack' || f.type === 'error', {
            timeoutMs: 60_000,
          });
        }),
      );
      expect(acks.map((a) => [a.type, a.counted])).toEqual(viewers.map(() => ['ack', true]));
      expect(stage.faultStats().dynamo!.byKind['timeout-after-commit']).toBeGreaterThan(0);
      await expect
        .poll(
          async () =>
            ((await (await fetch(`${stage!.httpUrl}/events/${event.eventId}/reposts`)).json()) as { total: number })
              .total,
          { timeout: 60_000 },
        )
        .toBe(8);
    },
  );
});

describe('the local stage under DynamoDB faults', () => {
  it(
    '20% throttles on Events, Entries and Changes: every publish acked once, every viewer gets every update',
    { timeout: SLOW },
    async () => {
      const stats = await ceremony(
        {
          dynamo: {
            share: 0.2,
            tables: ['Events', 'Entries', 'Changes'],
            kinds: ['throughput', 'throttling'],
            seed: 11,
          },
        },
        8,
      );
      const throttled = (t: string) =>
        (stats.dynamo!.byTable[t]?.throughput ?? 0) + (stats.dynamo!.byTable[t]?.throttling ?? 0);
      expect(throttled('Events') + throttled('Entries') + throttled('Changes')).toBeGreaterThan(0);
      expect(stats.dynamo!.injected).toBe(
        throttled('Events') + throttled('Entries') + throttled('Changes') - overlap(stats.dynamo!),
      );
    },
  );

  it(
    '30% of the publish transactions cancelled on a conflict: LiveService retries them, seqs stay gapless',
    { timeout: SLOW },
    async () => {
      // Entries and Changes: the publish transaction's tables that $connect does not write (see docs: a conflict there refuses the handshake).
      const stats = await ceremony(
        {
          dynamo: {
            share: 0.3,
            tables: ['Entries', 'Changes'],
            operations: ['TransactWriteItems'],
            kinds: ['conflict'],
            seed: 5,
          },
        },
        8,
      );
      expect(stats.dynamo!.byKind.conflict).toBeGreaterThan(0);
    },
  );

  it(
    'answers lost after commit on 20% of writes: each publish still acked once, nothing twice',
    { timeout: SLOW },
    async () => {
      const stats = await ceremony(
        { dynamo: { share: 0.2, operations: ['write'], kinds: ['timeout-after-commit'], holdMs: 20, seed: 3 } },
        8,
      );
      expect(stats.dynamo!.byKind['timeout-after-commit']).toBeGreaterThan(0);
    },
  );

  it('5% of every kind of fault on every table but Connections', { timeout: SLOW }, async () => {
    const tables = ['Events', 'Entries', 'Changes', 'Requests', 'Delivery', 'Reposts', 'RepostCounts'];
    const stats = await ceremony(
      {
        dynamo: {
          share: 0.05,
          tables,
          kinds: ['throughput', 'throttling', 'conflict', 'internal', 'timeout', 'timeout-after-commit'],
          holdMs: 50,
          seed: 21,
        },
      },
      8,
    );
    expect(stats.dynamo!.injected).toBeGreaterThan(0);
  });
});

/** Calls counted under two of the tables (a transaction over both): the per-table sums count them twice. */
function overlap(d: NonNullable<FaultStats['dynamo']>): number {
  const perTable = Object.values(d.byTable).reduce(
    (sum, kinds) => sum + Object.values(kinds).reduce((a, b) => a + (b ?? 0), 0),
    0,
  );
  return perTable - d.injected;
}

describe('worker environments killed mid-delivery', () => {
  it(
    'the killed invocation fails through the Lambda service, a fresh environment replaces it, and viewers get every update',
    { timeout: SLOW },
    async () => {
      stage = await testStage({ workerProcesses: 2 });
      const s = stage;
      const event = await createEvent(s);
      const reporter = await client(reporterUrl(s, event));
      const viewer = await client(viewerUrl(s, event.eventId));
      reporter.send({ action: 'publish', clientId: 'k-0', text: 'before the crash' });
      await reporter.next(isAck('k-0'), { timeoutMs: 30_000 });
      // The change woke the shard workers: kill an environment while they run.
      await expect.poll(() => s.lambda.stats().inFlight, { timeout: 30_000, interval: 5 }).toBeGreaterThan(0);
      const before = s.workerPids();
      const killed = s.killWorker();
      expect(before).toContain(killed);
      await expect.poll(() => s.lambda.stats().errors, { timeout: 30_000 }).toBeGreaterThan(0);
      await expect
        .poll(() => s.workerPids().filter((pid) => !before.includes(pid)), { timeout: 30_000 })
        .toHaveLength(1);
      expect(s.faultStats().workersKilled).toBe(1);

      reporter.send({ action: 'publish', clientId: 'k-1', text: 'after the crash' });
      await reporter.next(isAck('k-1'), { timeoutMs: 30_000 });
      const got = await viewer.collect<UpdateFrame>(isUpdate, 2, { timeoutMs: 30_000 });
      expect(got.map((u) => u.entry.seq).sort()).toEqual([1, 2]);
      await s.settled(60_000);
      expect(viewer.frames.filter(isUpdate)).toHaveLength(2);
    },
  );

  it('refuses to kill workers that run in the stage process, with a clear error', async () => {
    await expect(testStage({ faults: { killWorkersEveryMs: 100 } })).rejects.toThrow(
      /needs the workers in child processes/,
    );
  });
});
