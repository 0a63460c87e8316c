// A corrected entry's earlier versions (issue 15): read from the paged change log, only as far as needed.
import { describe, expect, it } from 'vitest';
import type { Entry, Revision } from '../../shared/domain/protocol';
import { earlierVersions, readEntryRevisions, type RevisionsPage } from '../../web/lib/correction-trail';

const rev = (seq: number, r: number, over: Partial<Entry> = {}): Entry => ({
  seq,
  rev: r,
  kind: 'text',
  text: `update ${seq} v${r}`,
  pinned: false,
  deleted: false,
  createdAt: '2026-11-29T10:00:00.000Z',
  updatedAt: `2026-11-29T10:0${r}:00.000Z`,
  reposts: 0,
  images: [],
  ...over,
});

/** A change log served in pages of `size`, recording the `after` of each request. */
function log(revisions: Entry[], size: number) {
  const items: Revision[] = revisions.map((entry, i) => ({ changeNo: (i + 1) * 2, entry }));
  const asked: number[] = [];
  const getPage = async (after: number): Promise<RevisionsPage> => {
    asked.push(after);
    const rest = items.filter((i) => i.changeNo > after);
    const page = rest.slice(0, size);
    return { items: page, next: rest.length > size ? page[page.length - 1]!.changeNo : null };
  };
  return { asked, getPage };
}

describe('readEntryRevisions', () => {
  it('follows next across pages and collects only that seq, in rev order', async () => {
    const l = log([rev(1, 1), rev(2, 1), rev(1, 2), rev(2, 2), rev(3, 1), rev(1, 3), rev(3, 2)], 2);
    expect((await readEntryRevisions(l.getPage, 1, 3)).map((e) => e.rev)).toEqual([1, 2, 3]);
    // Stopped at the page holding rev 3 (changeNo 12): the page after it was never asked for.
    expect(l.asked).toEqual([0, 4, 8]);
  });

  it('reads to the end when the shown rev is not in the log yet, and refuses a next that does not move', async () => {
    const l = log([rev(1, 1), rev(1, 2)], 1);
    expect((await readEntryRevisions(l.getPage, 1, 3)).map((e) => e.rev)).toEqual([1, 2]);
    await expect(readEntryRevisions(async () => ({ items: [], next: 0 }), 1, 2)).rejects.toThrow(/does not move/);
  });
});

describe('earlierVersions', () => {
  it('lists earlier wordings newest first with their times; pins are no version; the current one left out', () => {
    const revisions = [
      rev(1, 1, { text: 'first' }),
      rev(1, 2, { text: 'second' }),
      rev(1, 3, { text: 'second', pinned: true }),
      rev(1, 4, { text: 'third', pinned: true }),
    ];
    expect(earlierVersions(revisions, { text: 'third', images: [] })).toEqual([
      { rev: 2, text: 'second', images: [], at: '2026-11-29T10:02:00.000Z' },
      { rev: 1, text: 'first', images: [], at: '2026-11-29T10:01:00.000Z' },
    ]);
  });

  it('an entry that was only pinned has no earlier version; a change of photos is one', () => {
    expect(
      earlierVersions([rev(1, 1, { text: 'a' }), rev(1, 2, { text: 'a', pinned: true })], { text: 'a', images: [] }),
    ).toEqual([]);
    const img = { url: '/images/e/x', width: 10, height: 10 };
    expect(
      earlierVersions([rev(1, 1, { text: 'a', images: [img] }), rev(1, 2, { text: 'a' })], {
        text: 'a',
        images: [],
      }).map((v) => v.rev),
    ).toEqual([1]);
  });

  it('a deletion is no version (its revision carries no text)', () => {
    expect(
      earlierVersions([rev(1, 1, { text: 'a' }), rev(1, 2, { text: '', deleted: true })], { text: 'a', images: [] }),
    ).toEqual([]);
  });
});
