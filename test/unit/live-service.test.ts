import { beforeEach, describe, expect, it } from 'vitest';
import { rateLimited } from '../../shared/domain/errors';
import { type Caller, LiveService } from '../../shared/domain/live-service';
import type { AckFrame, ServerFrame } from '../../shared/domain/protocol';
import { FakeEntries, FakeEvents, FakeGateway, eventRecord, fixedClock, silentLog } from '../support/fakes';
import { refusal } from '../support/refusal';

const reporter: Caller = { connectionId: 'rep-1', eventId: 'ev1', role: 'reporter' };
const reporter2: Caller = { connectionId: 'rep-2', eventId: 'ev1', role: 'reporter' };
const viewer: Caller = { connectionId: 'view-1', eventId: 'ev1', role: 'viewer' };

let events: FakeEvents;
let entries: FakeEntries;
let gateway: FakeGateway;
let live: LiveService;

beforeEach(async () => {
  events = new FakeEvents();
  entries = new FakeEntries(events);
  gateway = new FakeGateway();
  live = recordingAcks(
    new LiveService({
      events,
      entries,
      changes: entries,
      gateway,
      clock: fixedClock(),
      log: silentLog,
      maxAttempts: 200,
    }),
  );
  await events.create(eventRecord('ev1'));
});

/** Acks by caller, in the order returned (the handler sends each as the route's response). */
let acked: Map<string, AckFrame[]>;
function recordingAcks(service: LiveService, into = new Map<string, AckFrame[]>()): LiveService {
  acked = into;
  for (const action of ['publish', 'edit', 'delete', 'pin'] as const) {
    const write: (c: Caller, f: never) => Promise<AckFrame> = service[action].bind(service);
    Object.assign(service, {
      [action]: async (c: Caller, f: never) => {
        const ack = await write(c, f);
        acked.set(c.connectionId, [...(acked.get(c.connectionId) ?? []), ack]);
        return ack;
      },
    });
  }
  return service;
}
const acks = (c: Caller) => acked.get(c.connectionId) ?? [];
/** The change log: what delivery sends every connection, in order. */
const logged = () => (entries.changes.get('ev1') ?? []).map((c) => c.entry);

describe('publish', () => {
  it('stores the entry with the next seq, logs the change with its whole state, and acks the reporter', async () => {
    await live.publish(reporter, { action: 'publish', clientId: 'a', text: '开幕式开始了', kind: 'key' });
    await live.publish(reporter, { action: 'publish', clientId: 'b', text: 'Second', kind: 'text' });

    expect(acks(reporter)).toEqual([
      { type: 'ack', clientId: 'a', seq: 1, rev: 1 },
      { type: 'ack', clientId: 'b', seq: 2, rev: 1 },
    ]);
    expect(logged()).toMatchObject([
      { seq: 1, rev: 1, kind: 'key', text: '开幕式开始了', pinned: false, deleted: false, reposts: 0 },
      { seq: 2, rev: 1, kind: 'text', text: 'Second' },
    ]);
    expect(events.items.get('ev1')).toMatchObject({ lastSeq: 2, lastChange: 2 });
  });

  it('answers a retry with the first ack, forever, and stores nothing new', async () => {
    await live.publish(reporter, { action: 'publish', clientId: 'same', text: 'Once', kind: 'text' });
    await live.publish(reporter, { action: 'publish', clientId: 'other', text: 'Two', kind: 'text' });
    await live.publish(reporter, { action: 'publish', clientId: 'same', text: 'Once (retry)', kind: 'text' });

    expect(acks(reporter).map((a) => [a.clientId, a.seq])).toEqual([
      ['same', 1],
      ['other', 2],
      ['same', 1],
    ]);
    expect(await entries.list('ev1', 0, 10)).toHaveLength(2);
    expect(logged()).toHaveLength(2);
  });

  it('keeps seq gapless and unique when two reporters publish at the same moment', async () => {
    const writes = Array.from({ length: 30 }, (_, i) =>
      live.publish(i % 2 ? reporter : reporter2, { action: 'publish', clientId: `c${i}`, text: `u${i}`, kind: 'text' }),
    );
    await Promise.all(writes);

    const seqs = (await entries.list('ev1', 0, 100)).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const acked = [...acks(reporter), ...acks(reporter2)].map((a) => a.seq).sort((a, b) => a - b);
    expect(acked).toEqual(seqs);
  });

  it('refuses a viewer and stores nothing', async () => {
    const err = await refusal(live.publish(viewer, { action: 'publish', clientId: 'v', text: 'hi', kind: 'text' }));
    expect(err.code).toBe('forbidden');
    expect(await entries.list('ev1', 0, 10)).toEqual([]);
  });

  it('gives up with conflict rather than looping when it keeps losing the race', async () => {
    const busy = new LiveService({
      events,
      entries,
      changes: entries,
      gateway,
      clock: fixedClock(),
      log: silentLog,
      maxAttempts: 2,
    });
    entries.commitPublish = async () => ({ ok: false, reason: 'stale' });
    const err = await refusal(busy.publish(reporter, { action: 'publish', clientId: 'x', text: 'x', kind: 'text' }));
    expect(err.code).toBe('conflict');
  });
});

describe('writes from more than one instance (Lambda containers)', () => {
  it("reads the event only when its memory of the counters may be stale, and another container's writes never make a gap", async () => {
    let reads = 0;
    const counting = Object.assign(Object.create(events) as FakeEvents, {
      get: (id: string) => {
        reads++;
        return events.get(id);
      },
    });
    const a = recordingAcks(
      new LiveService({ events: counting, entries, changes: entries, gateway, clock: fixedClock(), log: silentLog }),
    );
    const b = recordingAcks(
      new LiveService({ events: counting, entries, changes: entries, gateway, clock: fixedClock(), log: silentLog }),
      acked,
    );
    const publish = (s: LiveService, id: string) =>
      s.publish(reporter, { action: 'publish', clientId: id, text: id, kind: 'text' });

    await publish(a, 'a1');
    expect(reads).toBe(1);
    await publish(a, 'a2');
    await a.edit(reporter, { action: 'edit', clientId: 'a3', seq: 1, text: 'a1, corrected' });
    await publish(a, 'a4');
    expect(reads).toBe(1); // a run of writes through one container: no read before each
    await publish(b, 'b1'); // b has never written: it reads
    expect(reads).toBe(2);
    await publish(a, 'a5'); // a's memory is stale: its write fails its condition, and it reads again
    expect(reads).toBe(3);
    await b.pin(reporter, { action: 'pin', clientId: 'b2', seq: 2, pinned: true });

    expect(acks(reporter).map((x) => [x.clientId, x.seq, x.rev])).toEqual([
      ['a1', 1, 1],
      ['a2', 2, 1],
      ['a3', 1, 2],
      ['a4', 3, 1],
      ['b1', 4, 1],
      ['a5', 5, 1],
      ['b2', 2, 2],
    ]);
    expect((entries.changes.get('ev1') ?? []).map((c) => c.changeNo)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events.items.get('ev1')).toMatchObject({ lastSeq: 5, lastChange: 7 });
  });
});

describe('edit, delete, pin', () => {
  beforeEach(async () => {
    await live.publish(reporter, { action: 'publish', clientId: 'p1', text: 'Dragon boats at 10:00', kind: 'text' });
  });

  it('each change bumps rev and is logged, numbered, with the whole entry', async () => {
    await live.edit(reporter, { action: 'edit', clientId: 'e1', seq: 1, text: 'Dragon boats at 10:30' });
    await live.pin(reporter, { action: 'pin', clientId: 'p2', seq: 1, pinned: true });
    await live.delete(reporter, { action: 'delete', clientId: 'd1', seq: 1 });

    expect(acks(reporter).map((a) => [a.clientId, a.seq, a.rev])).toEqual([
      ['p1', 1, 1],
      ['e1', 1, 2],
      ['p2', 1, 3],
      ['d1', 1, 4],
    ]);
    expect((entries.changes.get('ev1') ?? []).map((c) => c.changeNo)).toEqual([1, 2, 3, 4]);
    expect(logged().map((e) => [e.rev, e.text, e.pinned, e.deleted])).toEqual([
      [1, 'Dragon boats at 10:00', false, false],
      [2, 'Dragon boats at 10:30', false, false],
      [3, 'Dragon boats at 10:30', true, false],
      [4, '', false, true],
    ]);
  });

  it('refuses changes to a deleted entry with conflict, but a retried delete gets its first ack', async () => {
    await live.delete(reporter, { action: 'delete', clientId: 'd1', seq: 1 });
    expect((await refusal(live.edit(reporter, { action: 'edit', clientId: 'e9', seq: 1, text: 'x' }))).code).toBe(
      'conflict',
    );
    await live.delete(reporter, { action: 'delete', clientId: 'd1', seq: 1 });
    expect(acks(reporter).at(-1)).toEqual({ type: 'ack', clientId: 'd1', seq: 1, rev: 2 });
    expect((await entries.get('ev1', 1))?.rev).toBe(2);
  });

  it('answers a seq that does not exist with not_found', async () => {
    const err = await refusal(live.edit(reporter, { action: 'edit', clientId: 'e1', seq: 99, text: 'x' }));
    expect(err.code).toBe('not_found');
  });

  it('refuses a clientId reused for another kind of request', async () => {
    const err = await refusal(live.edit(reporter, { action: 'edit', clientId: 'p1', seq: 1, text: 'x' }));
    expect(err.code).toBe('conflict');
    expect((await entries.get('ev1', 1))?.rev).toBe(1);
  });

  it('serializes concurrent edits: every one lands with its own rev', async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        live.edit(i % 2 ? reporter : reporter2, { action: 'edit', clientId: `e${i}`, seq: 1, text: `v${i}` }),
      ),
    );
    expect((await entries.get('ev1', 1))?.rev).toBe(11);
    const revs = [...acks(reporter), ...acks(reporter2)].filter((a) => a.clientId.startsWith('e')).map((a) => a.rev);
    expect(revs.sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('refuses a viewer', async () => {
    expect((await refusal(live.pin(viewer, { action: 'pin', clientId: 'x', seq: 1, pinned: true }))).code).toBe(
      'forbidden',
    );
  });
});

describe('sync', () => {
  const framesOf = (c: Caller): ServerFrame[] => gateway.framesOf(c.connectionId);

  it('sends the entries after since, in seq order, then synced', async () => {
    for (let i = 1; i <= 5; i++)
      await live.publish(reporter, { action: 'publish', clientId: `c${i}`, text: `t${i}`, kind: 'text' });
    await live.sync(viewer, 2);
    const frames = framesOf(viewer);
    expect(frames.map((f) => (f.type === 'update' ? f.entry.seq : f.type))).toEqual([3, 4, 5, 'synced']);
    expect(frames.at(-1)).toEqual({ type: 'synced', lastSeq: 5, lastChange: 5 });
  });

  it('splits a long catch-up into messages under the 32 KB frame limit, keeping order', async () => {
    const long = '鲇'.repeat(2000); // 6,000 bytes of UTF-8 each
    for (let i = 1; i <= 40; i++)
      await live.publish(reporter, { action: 'publish', clientId: `c${i}`, text: long, kind: 'text' });
    await live.sync(viewer, 0);
    const messages = gateway.messages.get(viewer.connectionId) ?? [];
    expect(messages.length).toBeGreaterThan(1);
    for (const m of messages) expect(m.byteLength).toBeLessThanOrEqual(32 * 1024);
    expect(framesOf(viewer).map((f) => (f.type === 'update' ? f.entry.seq : f.type))).toEqual([
      ...Array.from({ length: 40 }, (_, i) => i + 1),
      'synced',
    ]);
  });

  it('never says synced after a part of the catch-up could not be sent: the client is told to sync again', async () => {
    const long = '鲇'.repeat(2000);
    for (let i = 1; i <= 12; i++)
      await live.publish(reporter, { action: 'publish', clientId: `c${i}`, text: long, kind: 'text' });
    // The second message of the catch-up meets a throttle that outlasts every retry.
    let posts = 0;
    gateway.throttle = (id) => id === viewer.connectionId && ++posts >= 2;
    const err = await refusal(live.sync(viewer, 0));
    expect(err.code).toBe('rate_limited');
    const frames = framesOf(viewer);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.some((f) => f.type === 'synced')).toBe(false);
  }, 20_000);

  it('answers an up-to-date client with synced alone', async () => {
    await live.publish(reporter, { action: 'publish', clientId: 'c1', text: 't', kind: 'text' });
    await live.sync(viewer, 1);
    expect(framesOf(viewer)).toEqual([{ type: 'synced', lastSeq: 1, lastChange: 1 }]);
  });
});

describe('sync, priced', () => {
  const viewer: Caller = { connectionId: 'v1', eventId: 'ev1', role: 'viewer' };
  const reporter: Caller = { connectionId: 'r1', eventId: 'ev1', role: 'reporter' };

  it('tells its caller what the reply will cost in posts before making any, and makes none when refused', async () => {
    for (let i = 0; i < 30; i++)
      await live.publish(reporter, { action: 'publish', clientId: `p${i}`, text: '鲇'.repeat(1_990), kind: 'text' });
    const charged: number[] = [];
    await live.sync(viewer, 0, undefined, undefined, async (posts) => {
      charged.push(posts);
    });
    const posted = gateway.messages.get('v1')?.length ?? 0;
    expect(charged).toEqual([posted]);
    expect(posted).toBeGreaterThan(3); // ~180 KB of entries: several 32 KB messages

    const refused = await refusal(
      live.sync({ ...viewer, connectionId: 'v2' }, 0, undefined, undefined, async () => {
        throw rateLimited('over', 5_000);
      }),
    );
    expect(refused.code).toBe('rate_limited');
    expect(gateway.messages.get('v2')).toBeUndefined();
  });
});
