// The delivery feed's live counts: pending stats merged (nothing only an older one held is lost),
// split under the frame limit, and lines it cannot send skipped and counted rather than thrown.
import { describe, expect, it } from 'vitest';
import { ChangeFeed, type Message } from '../../shared/domain/delivery/change-feed';
import type { LiveFrame } from '../../shared/domain/protocol';
import { MAX_FRAME_BYTES, type Entry, type ServerFrame, type StatsFrame } from '../../shared/domain/protocol';
import { FakeEntries, FakeEvents, eventRecord } from '../support/fakes';

const entry = (seq: number, text = `update ${seq}`): Entry => ({
  seq,
  rev: 1,
  kind: 'text',
  text,
  pinned: false,
  deleted: false,
  createdAt: '2026-11-29T10:00:00.000Z',
  updatedAt: '2026-11-29T10:00:00.000Z',
  reposts: 0,
  images: [],
});
const totals = (from: number, count: number, value: (seq: number) => number) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [String(from + i), value(from + i)]));
const stats = (
  viewers: number,
  reposts: Record<string, number>,
  at = `2026-11-29T10:00:0${viewers % 10}.000Z`,
): LiveFrame => ({
  type: 'stats',
  eventId: 'ev1',
  viewers,
  reposts,
  at,
});

async function log() {
  const events = new FakeEvents();
  const entries = new FakeEntries(events);
  await events.create(eventRecord('ev1'));
  const event = events.items.get('ev1')!;
  /** Appends a line as it is stored, whatever its shape (a line written by an older or broken writer). */
  const line = (l: { entry: unknown } | { frame: unknown }) => {
    const changeNo = ++event.lastChange;
    if ('entry' in l) {
      const list = entries.changes.get('ev1') ?? [];
      list.push({ changeNo, entry: l.entry as Entry });
      entries.changes.set('ev1', list);
    } else {
      const list = entries.frameLines.get('ev1') ?? [];
      list.push({ changeNo, frame: l.frame as LiveFrame });
      entries.frameLines.set('ev1', list);
    }
    return changeNo;
  };
  return { entries, line };
}

const decode = (m: Message) => JSON.parse(new TextDecoder().decode(m.bytes)) as ServerFrame;
const framesOf = (messages: readonly Message[]) =>
  messages.map(decode).flatMap((f) => (f.type === 'batch' ? f.frames : [f]));
/** What a v1 client holds after applying every stats frame in order: each names absolute totals. */
const applied = (frames: readonly ServerFrame[]) =>
  frames.reduce<Record<string, number>>((held, f) => (f.type === 'stats' ? { ...held, ...f.reposts } : held), {});

describe('ChangeFeed: live counts', () => {
  it('delivers a stats line over the frame limit as stats frames that each fit and carry every total', async () => {
    const { entries, line } = await log();
    line({ entry: entry(1) });
    const big = totals(1, 5_000, (s) => 1_000 + s); // ~55 KB of totals in one line
    line({ frame: stats(40, big) });
    const feed = new ChangeFeed('ev1', entries);
    await feed.ensureFrom(0);

    const messages = feed.messagesAfter(0);

    for (const m of messages) expect(m.bytes.byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(messages.at(-1)?.through).toBe(2);
    const frames = framesOf(messages);
    expect(frames[0]).toMatchObject({ type: 'update', entry: { seq: 1 } });
    const parts = frames.filter((f): f is StatsFrame => f.type === 'stats');
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p).toMatchObject({ eventId: 'ev1', viewers: 40, changeNo: 2 });
    expect(applied(frames)).toEqual(big);
  });

  it('merges the stats pending for a connection: counts only an older one named are not lost', async () => {
    const { entries, line } = await log();
    line({ frame: stats(3, { '1': 5, '2': 7 }) });
    line({ entry: entry(3) });
    line({ frame: stats(4, { '2': 9, '3': 1 }) });
    const feed = new ChangeFeed('ev1', entries);
    await feed.ensureFrom(0);

    const frames = framesOf(feed.messagesAfter(0));

    // The update first (as in the log), then one stats: the newest viewers and at, every seq's newest total.
    expect(frames.map((f) => f.type)).toEqual(['update', 'stats']);
    expect(frames[1]).toEqual({
      type: 'stats',
      eventId: 'ev1',
      viewers: 4,
      reposts: { '1': 5, '2': 9, '3': 1 },
      at: '2026-11-29T10:00:04.000Z',
      changeNo: 3,
    });
    // A connection that already had the first stats is owed only the second.
    expect(framesOf(feed.messagesAfter(2))).toEqual([
      {
        type: 'stats',
        eventId: 'ev1',
        viewers: 4,
        reposts: { '2': 9, '3': 1 },
        at: '2026-11-29T10:00:04.000Z',
        changeNo: 3,
      },
    ]);
  });

  it('lets a connection that got only part of the merged counts resume and still get every total', async () => {
    const { entries, line } = await log();
    line({
      frame: stats(
        1,
        totals(1, 3_000, () => 11),
      ),
    });
    line({ entry: entry(1) });
    line({
      frame: stats(
        2,
        totals(2_001, 3_000, () => 22),
      ),
    });
    line({ entry: entry(2) });
    const feed = new ChangeFeed('ev1', entries);
    await feed.ensureFrom(0);
    const want = { ...totals(1, 3_000, () => 11), ...totals(2_001, 3_000, () => 22) };

    const messages = feed.messagesAfter(0);
    expect(messages.length).toBeGreaterThan(2);
    expect(messages.at(-1)?.through).toBe(4);
    // The delivery stops after any message (a failed post): what came, plus what is owed from its
    // `through`, holds every total and both updates.
    for (let i = 0; i < messages.length; i++) {
      const through = messages[i]!.through;
      expect(through).toBeGreaterThanOrEqual(i === 0 ? 0 : messages[i - 1]!.through);
      const got = [
        ...framesOf(messages.slice(0, i + 1)),
        ...(through < feed.head ? framesOf(feed.messagesAfter(through)) : []),
      ];
      expect(applied(got)).toEqual(want);
      expect(got.flatMap((f) => (f.type === 'update' ? [f.entry.seq] : []))).toEqual(expect.arrayContaining([1, 2]));
    }
  });

  it('skips, logs and counts (once) a line it cannot send; the lines around it still go out', async () => {
    const { entries, line } = await log();
    line({ entry: entry(1) });
    const bad = [
      line({ entry: entry(2, 'x'.repeat(40_000)) }), // over the frame limit on its own
      line({ frame: { type: 'stats', eventId: 'ev1', viewers: 3, reposts: 'lots', at: 't' } }),
      line({ frame: { type: 'fireworks', eventId: 'ev1' } }),
      line({ entry: { seq: 'three' } }),
    ];
    line({ entry: entry(3) });
    const skipped: number[] = [];
    const feed = new ChangeFeed('ev1', entries, { onSkip: (changeNo) => skipped.push(changeNo) });
    await feed.ensureFrom(2);
    await feed.ensureFrom(0); // re-reads the older lines: nothing counted twice

    const messages = feed.messagesAfter(0);
    feed.messagesAfter(1);

    expect(framesOf(messages).map((f) => (f.type === 'update' ? f.entry.seq : f.type))).toEqual([1, 3]);
    expect(messages.at(-1)?.through).toBe(6);
    expect(skipped.sort((a, b) => a - b)).toEqual(bad);
  });

  it('owes nothing to send to a connection whose remaining lines were all skipped', async () => {
    const { entries, line } = await log();
    line({ entry: entry(1) });
    line({ frame: { type: 'stats', eventId: 'ev1' } });
    const feed = new ChangeFeed('ev1', entries, { onSkip: () => {} });
    await feed.ensureFrom(0);
    expect(feed.messagesAfter(1)).toEqual([]);
  });
});
