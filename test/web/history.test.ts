import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/domain/protocol';
import { HISTORY_PAGE_LIMIT, readHistory, type TimelinePage } from '../../web/lib/history';
import { Timeline } from '../../web/lib/timeline';

const entry = (seq: number, rev = 1): Entry =>
  ({
    seq,
    rev,
    kind: 'text',
    text: `#${seq} r${rev}`,
    pinned: false,
    deleted: false,
    createdAt: 'now',
    updatedAt: 'now',
    reposts: 0,
  }) as Entry;

/** A timeline API over `count` entries, `size` a page, each page saying the change it reflects. */
function api(count: number, lastChanges: number[], fail?: { onPage: number }) {
  const asked: { after: number; limit: number }[] = [];
  const getPage = async (after: number, limit: number): Promise<TimelinePage> => {
    asked.push({ after, limit });
    if (fail && asked.length === fail.onPage) throw new Error('HTTP 503');
    const size = 2; // small pages, so the test follows several
    const items = Array.from({ length: Math.max(0, Math.min(size, count - after)) }, (_, i) => entry(after + i + 1));
    const last = items.at(-1)?.seq;
    return {
      items,
      next: last !== undefined && last < count ? last : null,
      lastChange: lastChanges[asked.length - 1] ?? 99,
    };
  };
  return { asked, getPage };
}

describe("readHistory (the live page's history over HTTP)", () => {
  it('follows next until null at the largest page size, applying every entry once', async () => {
    const { asked, getPage } = api(5, [40, 42, 41]);
    const timeline = new Timeline();
    const history = await readHistory(getPage, (entries) => entries.forEach((e) => timeline.apply(e)));
    expect(asked).toEqual([0, 2, 4].map((after) => ({ after, limit: HISTORY_PAGE_LIMIT })));
    expect(timeline.syncedThrough).toBe(5);
    expect(timeline.size).toBe(5);
    // The oldest page (a cached copy, say) bounds what the whole history reflects.
    expect(history).toEqual({ pages: 3, lastChange: 40 });
  });

  it('reads an empty event in one page, and has nothing to say about changes only when it read nothing', async () => {
    const { getPage } = api(0, [3]);
    expect(await readHistory(getPage, () => {})).toEqual({ pages: 1, lastChange: 3 });
    const down = api(5, [], { onPage: 1 });
    const history = await readHistory(down.getPage, () => {});
    expect(history.pages).toBe(0);
    expect(history.lastChange).toBeUndefined();
    expect(String(history.error)).toMatch(/503/);
  });

  it('keeps the whole pages read before one fails (the sync brings the rest)', async () => {
    const { getPage } = api(9, [50, 51, 52], { onPage: 3 });
    const timeline = new Timeline();
    const history = await readHistory(getPage, (entries) => entries.forEach((e) => timeline.apply(e)));
    expect(timeline.syncedThrough).toBe(4);
    expect(history).toMatchObject({ pages: 2, lastChange: 50 });
    expect(history.error).toBeInstanceOf(Error);
  });

  it('counts a page without lastChange (an older API) as change 0, and stops on a next that does not move on', async () => {
    const pages: TimelinePage[] = [
      { items: [entry(1)], next: 1, lastChange: 7 },
      { items: [entry(2)], next: 2 },
      { items: [], next: 2, lastChange: 9 },
    ];
    const history = await readHistory(
      async () => pages.shift()!,
      () => {},
    );
    expect(history.lastChange).toBe(0);
    expect(history.pages).toBe(3);
    expect(String(history.error)).toMatch(/does not move past 2/);
  });
});
