// Callers of the entry store never take a short answer for the end: a read may come back with fewer
// than it asked for (DynamoDB stops a page at 1 MB) while more follows. The fake store is set to
// answer at most a few items per read; sync, the timeline and the revisions must still reach the end.
import { beforeEach, describe, expect, it } from 'vitest';
import { EventService } from '../../shared/domain/event-service';
import { type Caller, LiveService } from '../../shared/domain/live-service';
import type { Entry, Revision, ServerFrame } from '../../shared/domain/protocol';
import {
  FakeEntries,
  FakeEvents,
  FakeGateway,
  FakeViewerCounts,
  eventRecord,
  fixedClock,
  silentLog,
} from '../support/fakes';

const reporter: Caller = { connectionId: 'rep-1', eventId: 'ev1', role: 'reporter' };
const viewer: Caller = { connectionId: 'view-1', eventId: 'ev1', role: 'viewer' };

let events: FakeEvents;
let entries: FakeEntries;
let gateway: FakeGateway;
let live: LiveService;
let service: EventService;

beforeEach(async () => {
  events = new FakeEvents();
  entries = new FakeEntries(events);
  gateway = new FakeGateway();
  const clock = fixedClock();
  live = new LiveService({ events, entries, changes: entries, gateway, clock, log: silentLog });
  const reposts = { totals: async () => new Map<number, number>(), seconds: async () => [], spikes: async () => [] };
  service = new EventService({ events, entries, changes: entries, clock, reposts, viewers: new FakeViewerCounts() });
  await events.create(eventRecord('ev1'));
});

async function publish(n: number, from = 1) {
  for (let i = from; i < from + n; i++)
    await live.publish(reporter, { action: 'publish', clientId: `p${i}`, text: `update ${i}`, kind: 'text' });
}

/** What the viewer's sync sent, as "seq/rev" for updates (+ "x" when deleted), then the synced frame's type. */
const caughtUp = () =>
  gateway
    .framesOf(viewer.connectionId)
    .map((f: ServerFrame) =>
      f.type === 'update' ? `${f.entry.seq}/${f.entry.rev}${f.entry.deleted ? 'x' : ''}` : f.type,
    );

describe('sync when every read comes back short', () => {
  it('still sends the held entries corrected and deleted after a long stretch, then every new one, then synced', async () => {
    await publish(3);
    const heldChange = events.items.get('ev1')!.lastChange;
    await publish(10, 4);
    await live.edit(reporter, { action: 'edit', clientId: 'e1', seq: 1, text: 'update 1, corrected' });
    await live.delete(reporter, { action: 'delete', clientId: 'd2', seq: 2 });
    entries.maxPerRead = 2;

    await live.sync(viewer, 3, heldChange);

    expect(caughtUp()).toEqual(['1/2', '2/2x', ...Array.from({ length: 10 }, (_, i) => `${i + 4}/1`), 'synced']);
    expect(gateway.framesOf(viewer.connectionId).at(-1)).toEqual({ type: 'synced', lastSeq: 13, lastChange: 15 });
  });

  it('sends the whole timeline to a new viewer (since 0)', async () => {
    await publish(7);
    entries.maxPerRead = 3;
    await live.sync(viewer, 0);
    expect(caughtUp()).toEqual([...Array.from({ length: 7 }, (_, i) => `${i + 1}/1`), 'synced']);
  });

  it('never says synced when the log cannot be read up to the event’s lastChange', async () => {
    await publish(3);
    await live.edit(reporter, { action: 'edit', clientId: 'e1', seq: 1, text: 'update 1, corrected' });
    entries.changes.set('ev1', entries.changes.get('ev1')!.slice(0, 3)); // the correction's line unreadable
    await expect(live.sync(viewer, 3, 3)).rejects.toThrow('before its lastChange 4');
    expect(caughtUp()).toEqual([]);
  });

  it('skips the change log and the timeline reads when nothing is owed', async () => {
    await publish(2);
    entries.maxPerRead = 1;
    await live.sync(viewer, 2, events.items.get('ev1')!.lastChange);
    expect(caughtUp()).toEqual(['synced']);
  });
});

describe('the organiser’s pages when every read comes back short', () => {
  /** Follows `next` from 0; fails rather than loop forever. */
  async function all<T>(read: (after: number) => Promise<{ items: T[]; next: number | null }>) {
    const items: T[] = [];
    for (let after: number | null = 0, pages = 0; after !== null; pages++) {
      if (pages > 100) throw new Error('next never became null');
      const page: { items: T[]; next: number | null } = await read(after);
      items.push(...page.items);
      after = page.next;
    }
    return items;
  }

  it('revisions: next is set while revisions remain, and following it gives every one, in order', async () => {
    await publish(8);
    await live.delete(reporter, { action: 'delete', clientId: 'd3', seq: 3 });
    // A live frame (viewer counts) in the log counts toward a page but is not a revision.
    await entries.appendFrame('ev1', (e) => ({
      type: 'stats',
      eventId: e.eventId,
      viewers: 1,
      reposts: {},
      at: '2026-07-01T09:00:00.000Z',
    }));
    await live.edit(reporter, { action: 'edit', clientId: 'e4', seq: 4, text: 'four, corrected' });
    entries.maxPerRead = 3;

    const first = await service.revisions('ev1', 0, 500);
    expect(first.items).toHaveLength(3);
    expect(first.next).toBe(3);

    const revisions = await all<Revision>((after) => service.revisions('ev1', after, 500));
    expect(revisions.map((r) => `${r.changeNo}:${r.entry.seq}/${r.entry.rev}`)).toEqual([
      ...Array.from({ length: 8 }, (_, i) => `${i + 1}:${i + 1}/1`),
      '9:3/2',
      '11:4/2',
    ]);
  });

  it('timeline: next is set while entries remain, and following it gives every entry once', async () => {
    await publish(9);
    entries.maxPerRead = 4;
    const first = await service.timeline('ev1', 0, 500);
    expect(first).toMatchObject({ next: 4 });
    const timeline = await all<Entry>((after) => service.timeline('ev1', after, 500));
    expect(timeline.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('next is null on the last page, and for an event with nothing yet', async () => {
    expect(await service.timeline('ev1', 0, 10)).toEqual({ items: [], next: null });
    expect(await service.revisions('ev1', 0, 10)).toEqual({ items: [], next: null });
    await publish(3);
    expect((await service.timeline('ev1', 0, 3)).next).toBeNull();
    expect((await service.revisions('ev1', 0, 3)).next).toBeNull();
    expect((await service.timeline('ev1', 0, 2)).next).toBe(2);
    expect((await service.revisions('ev1', 2, 2)).next).toBeNull();
  });
});
