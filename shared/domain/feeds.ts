// An event's entries as JSON Feed 1.1 and Atom 1.0, written by the `feed` library (npm): XML
// escaping, CDATA and element order are its job. Plain text goes in as escaped HTML, so a `<script>`
// in an entry is shown as text by every reader, never run.
import { Feed } from 'feed';
import type { Entry } from './protocol';
import {
  entryUrl,
  escapeHtml,
  headline,
  lastModified,
  liveUrl,
  type LiveBlogEvent,
  photosAsHtml,
  photosOf,
  textAsHtml,
} from './live-blog';

/**
 * The newest entries a feed carries. Readers poll every few minutes and keep what they saw, so they
 * need the recent updates, not the event's whole history (the timeline has that). 200 2,000-character
 * Chinese entries are ~1.3 MB of JSON or XML, far under Lambda's 6 MB answer; at a busy event's
 * pace of one update a minute it is over three hours of coverage.
 */
export const FEED_ITEMS = 200;

/** The tag a key moment carries (JSON Feed `tags`, Atom `category`): readers can filter on it. */
export const KEY_MOMENT_TAG = 'key-moment';
export const PINNED_TAG = 'pinned';

export interface FeedInput {
  event: LiveBlogEvent;
  /** The entries shown (none deleted), newest first. */
  entries: readonly Entry[];
  /** The pages' origin, e.g. `https://live.example.com`. */
  site: string;
  /** The feeds' own URLs (self links). */
  feedUrls: { json: string; atom: string };
}

/** An entry's id: the same whatever its edits and wherever the site moves (a URN, not its URL). */
export const entryId = (eventId: string, seq: number): string => `urn:livecast:${eventId}:entry:${seq}`;

function build({ event, entries, site, feedUrls }: FeedInput): Feed {
  const updated = lastModified(event, entries);
  const feed = new Feed({
    id: `urn:livecast:${event.eventId}`,
    title: event.title,
    link: liveUrl(site, event.eventId),
    updated: new Date(updated),
    feedLinks: feedUrls,
    // Atom wants an author for every entry; the event speaks for its reporters.
    author: { name: event.title, link: liveUrl(site, event.eventId) },
    generator: 'livecast',
  });
  for (const e of entries) {
    const tags = [...(e.kind === 'key' ? [KEY_MOMENT_TAG] : []), ...(e.pinned ? [PINNED_TAG] : [])];
    feed.addItem({
      id: entryId(event.eventId, e.seq),
      // Atom writes titles as type="html": escaped, so markup in a reporter's text stays text.
      title: escapeHtml(headline(e.text)),
      link: entryUrl(site, event.eventId, e.seq),
      // `date` is the last change (Atom `updated`, JSON Feed `date_modified`); `published` the first.
      date: new Date(e.updatedAt),
      published: new Date(e.createdAt),
      // Photos as <img> after the text: every reader shows content; the library's one `image` per
      // item would drop the others, and its Atom enclosure takes the type from a file extension our
      // image urls do not have (so the JSON Feed's `image` is set below instead).
      content: textAsHtml(e.text) + photosAsHtml(e, site),
      ...(tags.length ? { category: tags.map((t) => ({ name: t, term: t })) } : {}),
    });
  }
  return feed;
}

export function atomFeed(input: FeedInput): string {
  return build(input).atom1();
}

/**
 * JSON Feed 1.1. The library writes 1.0 (`version` …/1, a single `author`); 1.1 renames the version
 * and makes `authors` an array (the singular is deprecated): those are set here on its output. Items'
 * `title` is plain text in JSON Feed (the library's is the escaped Atom one), and each item carries
 * `content_text`, the entry as typed, in place of the library's `content_html`. No `language`: an
 * event may be in any.
 */
export function jsonFeed(input: FeedInput): string {
  const doc = JSON.parse(build(input).json1()) as Record<string, unknown> & {
    author?: unknown;
    items: Record<string, unknown>[];
  };
  const { author, ...rest } = doc;
  const bySeq = new Map(input.entries.map((e) => [entryId(input.event.eventId, e.seq), e]));
  return JSON.stringify({
    ...rest,
    version: 'https://jsonfeed.org/version/1.1',
    ...(author ? { authors: [author] } : {}),
    items: doc.items.map((item) => {
      const entry = bySeq.get(String(item.id));
      if (!entry) return item;
      // content_text alone: the entry is plain text, and the library's content_html beside it would
      // double the feed (2.4 MB instead of 1.3 MB for 200 2,000-character Chinese entries). An entry
      // with photos keeps content_html (text and photos) and names its first photo as `image`.
      const { content_html: html, ...rest } = item;
      const photos = photosOf(entry, input.site);
      const withPhotos = photos[0] ? { content_html: html, image: photos[0].url } : {};
      return { ...rest, title: headline(entry.text), content_text: entry.text, ...withPhotos };
    }),
  });
}
