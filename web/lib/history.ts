// The history a live page starts from, read over HTTP (cacheable, and none of the socket's
// @connections budget) a timeline page at a time; the socket's sync then brings only what came after.
import type { Entry, EventView } from '../../shared/domain/protocol';
import { getJson, type PageConfig } from './config';

/** `GET /events/{id}/timeline`: `lastChange` (an extension of v1) is the change its entries reflect. */
export interface TimelinePage {
  items: Entry[];
  next: number | null;
  lastChange?: number;
}

/** The largest page the API gives (`limit` 1..500): the fewest requests. */
export const HISTORY_PAGE_LIMIT = 500;

export interface History {
  pages: number;
  /**
   * Every change up to this one is reflected in the entries read: the lowest `lastChange` of the
   * pages (each may come from a cache, each from its own moment). 0 when a page did not say (an older
   * API): a sync from 0 re-sends the held entries, late rather than wrong. Undefined when nothing was read.
   */
  lastChange: number | undefined;
  /** Why the reading stopped before the end (the sync brings the rest). */
  error?: unknown;
}

/**
 * Reads pages from `after` 0, following `next` until null, and hands each page's entries to `apply`.
 * A page that fails ends the reading; what was read stands (the pages before it are whole).
 */
export async function readHistory(
  getPage: (after: number, limit: number) => Promise<TimelinePage>,
  apply: (entries: Entry[]) => void,
): Promise<History> {
  let lastChange: number | undefined;
  let pages = 0;
  try {
    for (let after: number | null = 0; after !== null;) {
      const page = await getPage(after, HISTORY_PAGE_LIMIT);
      pages++;
      lastChange = Math.min(lastChange ?? Number.POSITIVE_INFINITY, page.lastChange ?? 0);
      apply(page.items);
      // A page that does not move on would be asked for forever.
      if (page.next !== null && page.next <= after)
        throw new Error(`the timeline's next (${page.next}) does not move past ${after}`);
      after = page.next;
    }
  } catch (error) {
    return { pages, lastChange, error };
  }
  return { pages, lastChange };
}

/**
 * An event and its history at once, the entries applied to `apply` as each page comes (the live
 * page and the embed start alike). A history cut short (an error on a page) is finished by the sync.
 */
export function readEventAndHistory(
  config: PageConfig,
  eventId: string,
  apply: (entries: Entry[]) => void,
): Promise<[EventView, History]> {
  const path = `/events/${encodeURIComponent(eventId)}`;
  return Promise.all([
    getJson<EventView>(config, path),
    readHistory(
      (after, limit) => getJson<TimelinePage>(config, `${path}/timeline?after=${after}&limit=${limit}`),
      apply,
    ),
  ]);
}
