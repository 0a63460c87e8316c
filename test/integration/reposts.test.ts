// Reposts end to end: real sockets, the local gateway, the Reposts stream and the tally on DynamoDB Local.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Stage } from '../../local/stage';
import type { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import type { StreamedRepost } from '../../shared/domain/ports';
import type { ErrorFrame, RepostAckFrame, ServerFrame, SpikeFrame, StatsFrame } from '../../shared/domain/protocol';
import {
  type CreatedEvent,
  createEvent,
  identifiedViewerUrl,
  reporterUrl,
  testStage,
  viewerUrl,
} from '../support/stage';
import { repostStore } from '../support/storm';
import { connect, type TestClient } from '../support/ws-client';

const VIEWERS = 30;

let stage: Stage;
let store: DynamoRepostStore;
let event: CreatedEvent;
let reporter: TestClient;
let viewers: TestClient[];

const isRepostAck = (seq: number) => (f: ServerFrame) => f.type === 'ack' && 'reposted' in f && f.seq === seq;

beforeAll(async () => {
  // The spike sweep every second instead of every minute, leaving alone events with reposts in the last 5 s (not 60).
  stage = await testStage({ scheduleEveryMs: 1000, env: { LIVECAST_SPIKE_SWEEP_QUIET_MS: '5000' } });
  store = repostStore(stage);
  event = await createEvent(stage);
  reporter = await connect(reporterUrl(stage, event));
  for (const [i, text] of ['The ribbon is cut!', 'A typo'].entries()) {
    reporter.send({ action: 'publish', clientId: `p${i}`, text });
    await reporter.next((f) => f.type === 'ack' && f.clientId === `p${i}`);
  }
  reporter.send({ action: 'delete', clientId: 'd1', seq: 2 });
  await reporter.next((f) => f.type === 'ack' && f.clientId === 'd1');
  // Each with a viewer id, as the live page connects: they share this machine's address, and clients
  // without one count once per address.
  viewers = await Promise.all(
    Array.from({ length: VIEWERS }, async () => connect(await identifiedViewerUrl(stage, event.eventId))),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([reporter, ...viewers].map((c) => c?.close()));
  await stage?.stop();
});

async function totalOf(seq: number): Promise<number> {
  return (await store.totals(event.eventId, seq, seq)).get(seq) ?? 0;
}

/**
 * `count` reposts of `seq` from as many made-up connections, stamped within the second now is in,
 * however long the writes take. On a loaded machine repostStorm's stamps (as each row is written)
 * stretched 300 reposts over 14 s: three waves of 100 with silences between, which the detector
 * rightly calls three spikes. Here the wave is one second whatever the load; the system meets the
 * rows as late as the writes make them, as it would a lagging stream.
 */
async function burst(
  eventId: string,
  seq: number,
  count: number,
  prefix: string,
): Promise<{ firstAt: number; lastAt: number }> {
  const second = Math.floor(Date.now() / 1000) * 1000;
  const at = (i: number) => second + Math.floor((i * 999) / count);
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, (_, j) =>
        store.add({ eventId, seq, connectionId: `${prefix}-${i + j}`, at: at(i + j) }),
      ),
    );
  }
  return { firstAt: at(0), lastAt: at(count - 1) };
}

async function refused(c: TestClient, frame: unknown): Promise<ErrorFrame> {
  const from = c.frames.length;
  c.send(frame);
  return c.next<ErrorFrame>((f) => f.type === 'error', { from });
}

describe('repost', () => {
  it('counts once per viewer and seq; a second click is acked but not counted', async () => {
    const first = await Promise.all(
      viewers.map((v, i) => {
        v.send({ action: 'repost', seq: 1, clientId: `r${i}` });
        return v.next<RepostAckFrame>(isRepostAck(1));
      }),
    );
    expect(first.every((a) => a.counted && a.reposted)).toBe(true);
    expect(first.map((a) => a.clientId)).toEqual(viewers.map((_, i) => `r${i}`));

    const from = viewers[0]!.frames.length;
    viewers[0]!.send({ action: 'repost', seq: 1 });
    const again = await viewers[0]!.next<RepostAckFrame>(isRepostAck(1), { from });
    expect(again).toEqual({ type: 'ack', seq: 1, reposted: true, counted: false });

    await stage.settled();
    expect(await totalOf(1)).toBe(VIEWERS);
  });

  it('refuses deleted and missing entries and bad input with an error frame, counting nothing', async () => {
    const v = viewers[1]!;
    expect(await refused(v, { action: 'repost', seq: 2, clientId: 'x1' })).toMatchObject({
      code: 'conflict',
      clientId: 'x1',
    });
    expect((await refused(v, { action: 'repost', seq: 99 })).code).toBe('not_found');
    expect((await refused(v, { action: 'repost', seq: 'one' })).code).toBe('bad_request');
    expect((await refused(v, { action: 'repost', seq: 0 })).code).toBe('bad_request');
    expect((await refused(v, { action: 'repost' })).code).toBe('bad_request');
    await stage.settled();
    expect(await store.totals(event.eventId, 1, 100)).toEqual(new Map([[1, VIEWERS]]));
  });

  it('shows the totals on the timeline and the series, spikes and total in GET /reposts', async () => {
    await stage.settled();
    const timeline = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline`)).json()) as {
      items: { seq: number; reposts: number }[];
    };
    expect(timeline.items.map((e) => [e.seq, e.reposts])).toEqual([
      [1, VIEWERS],
      [2, 0],
    ]);
    const res = await fetch(`${stage.httpUrl}/events/${event.eventId}/reposts?bucket=60`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { buckets: { t: number; count: number }[]; spikes: unknown[]; total: number };
    expect(body.total).toBe(VIEWERS);
    expect(body.buckets.reduce((n, b) => n + b.count, 0)).toBe(VIEWERS);
    expect(body.buckets.every((b) => b.t % 60_000 === 0)).toBe(true);
    expect(body.spikes).toEqual([]); // 30 reposts are not a storm
    expect((await fetch(`${stage.httpUrl}/events/${event.eventId}/reposts?bucket=7`)).status).toBe(400);
    expect((await fetch(`${stage.httpUrl}/events/nope/reposts`)).status).toBe(404);
  });

  it('gives a viewer who arrives later the counts so far with the entries its sync returns', async () => {
    await stage.settled();
    const late = await connect(viewerUrl(stage, event.eventId));
    late.send({ action: 'sync', since: 0 });
    await late.next((f) => f.type === 'synced');
    expect(late.frames.flatMap((f) => (f.type === 'update' ? [[f.entry.seq, f.entry.reposts]] : []))).toEqual([
      [1, VIEWERS],
      [2, 0],
    ]);
    await late.close();
  });

  it('ends a spike in the table after its wave, though nobody reposts or reads the reposts again', async () => {
    const quiet = await createEvent(stage, 'quiet after the storm');
    const rep = await connect(reporterUrl(stage, quiet));
    rep.send({ action: 'publish', clientId: 'q1', text: 'Fireworks!' });
    await rep.next((f) => f.type === 'ack');
    await rep.close();
    await burst(quiet.eventId, 1, 300, 'quiet');
    // Only the tally and the sweep run now: no GET /reposts, which would judge the seconds itself.
    await expect
      .poll(() => store.spikes(quiet.eventId), { timeout: 30_000, interval: 250 })
      .toEqual([expect.objectContaining({ total: 300, topSeq: 1, endedAt: expect.any(Number) })]);
    expect(await store.eventsWithOpenSpikes()).not.toContain(quiet.eventId);
  }, 45_000);

  it('records a storm as a spike, with the entry that drove it, and ends it once the storm has passed', async () => {
    const storm = await createEvent(stage, 'storm');
    const watcher = await connect(viewerUrl(stage, storm.eventId));
    const rep = await connect(reporterUrl(stage, storm));
    rep.send({ action: 'publish', clientId: 'k1', text: 'The first sweetfish is caught!', kind: 'key' });
    await rep.next((f) => f.type === 'ack');
    await rep.close();
    // 600 reposts in a burst (rows written as the repost route writes them).
    const { firstAt: at, lastAt } = await burst(storm.eventId, 1, 600, 'storm');
    await stage.settled();
    interface Reposts {
      spikes: { startedAt: number; endedAt: number | null; total: number; topSeq: number; peakPerSecond: number }[];
      total: number;
    }
    // The end is judged by the sweep (every second here, once the event's last 5 s were quiet) or the
    // next repost; a read only reads: 3 quiet seconds + 5 s settling + the sweep's period, on a loaded machine.
    const body = await vi.waitFor(
      async () => {
        const read = (await (
          await fetch(`${stage.httpUrl}/events/${storm.eventId}/reposts?bucket=1`)
        ).json()) as Reposts;
        expect(read.spikes[0]?.endedAt).toBeTruthy();
        return read;
      },
      { timeout: 30_000, interval: 250 },
    );
    expect(body.total).toBe(600);
    expect(body.spikes).toHaveLength(1);
    const spike = body.spikes[0]!;
    // Exact once it has ended, however far behind the tally ran while the storm lasted.
    expect(spike).toMatchObject({ total: 600, topSeq: 1 });
    expect(spike.startedAt).toBe(Math.floor(at / 1000) * 1000);
    expect(spike.endedAt).toBeGreaterThan(lastAt - 1000);
    expect(spike.peakPerSecond).toBeGreaterThanOrEqual(600 / Math.ceil((lastAt - spike.startedAt + 1) / 1000));

    // Viewers heard of it through delivery: one spike frame when it started, and live counts that
    // end at the exact total, never one frame per repost.
    const announced = await watcher.next<SpikeFrame>((f) => f.type === 'spike');
    expect(announced).toMatchObject({ eventId: storm.eventId, startedAt: spike.startedAt, topSeq: 1, endedAt: null });
    await watcher.next<StatsFrame>((f) => f.type === 'stats' && f.reposts['1'] === 600);
    const stats = watcher.frames.filter((f): f is StatsFrame => f.type === 'stats');
    expect(stats.length).toBeLessThan(20);
    expect(stats.every((s) => s.eventId === storm.eventId && s.viewers === 1)).toBe(true);
    // Each carries its place in the change log, so a client can resume a sync from it.
    expect(stats.every((s) => typeof s.changeNo === 'number')).toBe(true);
    expect(announced.changeNo).toEqual(expect.any(Number));
    expect(watcher.frames.filter((f) => f.type === 'spike')).toHaveLength(1);
    await watcher.close();
  });

  it('tells every page the viewer count when the audience moves, at most about once a second', async () => {
    const hall = await createEvent(stage, 'viewer count');
    const first = await connect(viewerUrl(stage, hall.eventId));
    const others = await Promise.all([1, 2, 3, 4].map(() => connect(viewerUrl(stage, hall.eventId))));
    await first.next<StatsFrame>((f) => f.type === 'stats' && f.viewers === 5, { timeoutMs: 10_000 });
    const from = first.frames.length;
    await Promise.all(others.slice(0, 3).map((c) => c.close()));
    await first.next<StatsFrame>((f) => f.type === 'stats' && f.viewers === 2, { from, timeoutMs: 10_000 });
    const stats = first.frames.filter((f): f is StatsFrame => f.type === 'stats');
    expect(stats.length).toBeLessThanOrEqual(6);
    expect(stats.every((s) => s.eventId === hall.eventId && Object.keys(s.reposts).length === 0)).toBe(true);
    await Promise.all([first.close(), others[3]!.close()]);
  });

  it('never counts a repost twice when a stream batch is handed in again, whole or split', async () => {
    const other = await createEvent(stage, 'retries');
    const at = Date.now();
    // Stream records: sequence numbers increase per partition in the order the reposts were written.
    const reposts: StreamedRepost[] = Array.from({ length: 60 }, (_, i) => ({
      eventId: other.eventId,
      seq: 1 + (i % 3),
      connectionId: `retry-${i}`,
      at: at + i,
      sequence: String(1_000_000_000_000_000_000n + BigInt(i) * 7n),
    }));
    const total = async () => [...(await store.totals(other.eventId, 1, 3)).values()].reduce((a, b) => a + b, 0);
    expect(await store.tally(other.eventId, reposts.slice(0, 20))).toBe(20);
    expect(await store.tally(other.eventId, reposts.slice(0, 20))).toBe(0); // the same batch again
    expect(await store.tally(other.eventId, reposts.slice(10, 40))).toBe(20); // a retry that overlaps
    expect(await store.tally(other.eventId, reposts.slice(0, 60))).toBe(20); // everything once more
    expect(await store.tally(other.eventId, reposts)).toBe(0);
    expect(await total()).toBe(60);
    expect(await store.totals(other.eventId, 1, 3)).toEqual(
      new Map([
        [1, 20],
        [2, 20],
        [3, 20],
      ]),
    );
    // Two tallies of the same records at once: between them, each counted once.
    const more = reposts.map((r, i) => ({
      ...r,
      connectionId: `${r.connectionId}-b`,
      sequence: String(2_000_000_000_000_000_000n + BigInt(i)),
    }));
    const [a, b] = await Promise.all([store.tally(other.eventId, more), store.tally(other.eventId, more)]);
    expect(a + b).toBe(60);
    expect(await total()).toBe(120);
    // Per second too: the series adds up to the totals.
    const seconds = await store.seconds(other.eventId);
    expect(seconds.reduce((n, s) => n + Object.values(s.bySeq).reduce((x, y) => x + y, 0), 0)).toBe(120);
  });
});
