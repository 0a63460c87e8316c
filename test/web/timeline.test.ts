import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/domain/protocol';
import { Timeline } from '../../web/lib/timeline';

const entry = (seq: number, rev = 1, over: Partial<Entry> = {}): Entry => ({
  seq,
  rev,
  kind: 'text',
  text: `update ${seq}`,
  pinned: false,
  deleted: false,
  createdAt: '2026-11-29T10:00:00.000Z',
  updatedAt: '2026-11-29T10:00:00.000Z',
  reposts: 0,
  images: [],
  ...over,
});

describe('Timeline (the pages apply updates by (seq, rev))', () => {
  it('keeps one entry per seq and the highest rev, whatever the order or repeats', () => {
    const t = new Timeline();
    expect(t.apply(entry(1))).toBe('new');
    expect(t.apply(entry(1, 3, { text: 'third' }))).toBe('changed');
    expect(t.apply(entry(1, 2, { text: 'second, late' }))).toBe('stale');
    expect(t.apply(entry(1, 3, { text: 'third' }))).toBe('stale');
    expect(t.size).toBe(1);
    expect(t.get(1)?.text).toBe('third');
  });

  it('syncs from below a hole: the highest seq with nothing missing under it', () => {
    const t = new Timeline();
    for (const s of [1, 2, 3, 7]) t.apply(entry(s));
    expect(t.highestSeq).toBe(7);
    expect(t.syncedThrough).toBe(3);
    for (const s of [4, 5, 6]) t.apply(entry(s));
    expect(t.syncedThrough).toBe(7);
  });

  it('takes a newer repost total from an update that is not a newer revision', () => {
    const t = new Timeline();
    t.apply(entry(1, 2, { reposts: 3 }));
    expect(t.apply(entry(1, 2, { reposts: 40 }))).toBe('stale');
    expect(t.get(1)?.reposts).toBe(40);
  });

  it('marks an entry corrected when its text changed, not when it was only pinned', () => {
    const t = new Timeline();
    t.apply(entry(1));
    t.apply(entry(1, 2, { pinned: true }));
    expect(t.get(1)?.corrected).toBe(false);
    t.apply(entry(1, 3, { pinned: true, text: 'fixed' }));
    expect(t.get(1)?.corrected).toBe(true);
  });

  it('orders pinned first, then newest first, and leaves deleted entries out', () => {
    const t = new Timeline();
    for (const s of [1, 2, 3, 4]) t.apply(entry(s));
    t.apply(entry(2, 2, { pinned: true }));
    t.apply(entry(3, 2, { deleted: true, text: '' }));
    expect(t.ordered().map((e) => e.seq)).toEqual([2, 4, 1]);
    expect(t.highestSeq).toBe(4);
    expect(t.ordered((e) => e.seq % 2 === 0).map((e) => e.seq)).toEqual([2, 4]);
  });

  it('takes repost counts from stats and updates alike, never going down', () => {
    const t = new Timeline();
    t.apply(entry(1, 1, { reposts: 5 }));
    expect(t.applyReposts({ '1': 9, '2': 4 })).toEqual([1]);
    expect(t.get(1)?.reposts).toBe(9);
    t.apply(entry(1, 2, { reposts: 7, text: 'edited' }));
    expect(t.get(1)?.reposts).toBe(9);
    // A count that arrived before its entry is kept for it.
    t.apply(entry(2));
    expect(t.get(2)?.reposts).toBe(4);
    expect(t.applyReposts({ '1': 3 })).toEqual([]);
  });

  it('shows every count of live counts that came split over several stats frames, whatever came first', () => {
    // Delivery splits a storm's totals over stats frames of under 32 KB; each names some seqs.
    const t = new Timeline();
    for (let seq = 1; seq <= 3_000; seq++) t.apply(entry(seq));
    const totals = (from: number, to: number, n: (seq: number) => number) =>
      Object.fromEntries(Array.from({ length: to - from + 1 }, (_, i) => [String(from + i), n(from + i)]));
    const parts = [
      totals(1, 1_200, (s) => s % 17),
      totals(1_201, 2_400, (s) => s % 17),
      totals(2_401, 3_000, (s) => s % 17),
    ];
    t.applyReposts(parts[1]!);
    t.applyReposts(parts[0]!);
    t.applyReposts(parts[2]!);
    t.applyReposts(parts[0]!); // a part delivered twice changes nothing
    const wrong = Array.from({ length: 3_000 }, (_, i) => i + 1).filter((seq) => t.get(seq)?.reposts !== seq % 17);
    expect(wrong).toEqual([]);
  });

  it('counts the page’s own repost at once when it is acked, and never twice with a stats frame that held it', () => {
    const t = new Timeline();
    t.apply(entry(1, 1, { reposts: 4 }));
    // Acked before any stats: 5 at once, not 4 ("Reposted 4" until the next live count).
    expect(t.countOwnRepost(1, 4)).toBe(true);
    expect(t.get(1)?.reposts).toBe(5);
    // The stats frame that follows holds it (and one more from someone else): 6, not 7.
    t.applyReposts({ '1': 6 });
    expect(t.get(1)?.reposts).toBe(6);
    // A stats frame that came before the ack already held it: nothing added.
    const u = new Timeline();
    u.apply(entry(1, 1, { reposts: 0 }));
    u.applyReposts({ '1': 1 });
    expect(u.countOwnRepost(1, 0)).toBe(false);
    expect(u.get(1)?.reposts).toBe(1);
  });
});

describe('Timeline reading order (issue 15)', () => {
  it('orders oldest first on request, pins on top in either order; newestShown ignores pins', () => {
    const t = new Timeline();
    for (const s of [3, 1, 4, 2, 5]) t.apply(entry(s, 1, { pinned: s === 2 || s === 4, deleted: s === 5 }));
    expect(t.ordered().map((e) => e.seq)).toEqual([4, 2, 3, 1]);
    expect(t.ordered(undefined, 'oldest').map((e) => e.seq)).toEqual([2, 4, 1, 3]);
    expect(t.ordered((e) => e.seq > 1, 'oldest').map((e) => e.seq)).toEqual([2, 4, 3]);
    expect(t.newestShown().map((e) => e.seq)).toEqual([4, 3, 2, 1]);
  });
});
