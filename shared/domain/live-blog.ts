// What an event looks like to search engines, social networks and feed readers: links to entries,
// headlines, escaping, and schema.org's LiveBlogPosting as JSON-LD. Pure and free of Node and AWS
// (no Buffer, no SDK) so the live page can build the same JSON-LD in the browser.
import type { Entry } from './protocol';

/** The event as these views need it (GET /events/{id} gives the same fields). */
export interface LiveBlogEvent {
  eventId: string;
  title: string;
  createdAt: string;
  startsAt?: string;
}

/** The live page of an event, on the site (pages) origin, e.g. `https://live.example.com`. */
export const liveUrl = (site: string, eventId: string): string => `${site}/live/${encodeURIComponent(eventId)}`;

/** One entry on the live page (PROTOCOL v1.1 Pages: `/live/{eventId}#entry-{seq}`). */
export const entryUrl = (site: string, eventId: string, seq: number): string =>
  `${liveUrl(site, eventId)}#entry-${seq}`;

/** The longest headline, in characters (code points): schema.org/Google show about this much of one. */
export const HEADLINE_CHARS = 110;

/** An entry's headline: its first line, cut at HEADLINE_CHARS code points (never inside a surrogate pair) with an ellipsis. */
export function headline(text: string): string {
  const firstLine = text.split(/\r?\n/, 1)[0]?.trim() ?? '';
  const chars = [...firstLine];
  return chars.length <= HEADLINE_CHARS ? firstLine : `${chars.slice(0, HEADLINE_CHARS - 1).join('')}…`;
}

/**
 * A photo's url, absolute: deployed, entries carry the CDN's absolute urls already; locally (and
 * wherever a stage serves `/images/*` on the pages' own origin) they are relative, and a feed
 * reader, a crawler or a social network has no origin to read them against.
 */
export const absoluteUrl = (url: string, site: string): string =>
  /^https?:\/\//i.test(url) ? url : `${site}${url.startsWith('/') ? '' : '/'}${url}`;

/** An entry's photos, absolute, in display order (entries stored before photos have none). */
export function photosOf(entry: Entry, site: string): { url: string; width: number; height: number; alt?: string }[] {
  return (entry.images ?? []).map((i) => ({ ...i, url: absoluteUrl(i.url, site) }));
}

/** The photos as HTML after the text (feeds' content, the snapshot): sized, with their alt text. */
export function photosAsHtml(entry: Entry, site: string): string {
  return photosOf(entry, site)
    .map(
      (p) =>
        `<img src="${escapeHtml(p.url)}" width="${p.width}" height="${p.height}" alt="${escapeHtml(p.alt ?? '')}" loading="lazy">`,
    )
    .join('');
}

/** The newest photo among the entries (newest first): what a shared link shows. */
export function newestPhoto(
  entries: readonly Entry[],
  site: string,
): { url: string; width: number; height: number; alt?: string } | undefined {
  for (const e of entries) {
    const first = photosOf(e, site)[0];
    if (first) return first;
  }
  return undefined;
}

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Plain text as HTML: escaped, line breaks kept (feeds' content_html, Atom's type="html" content). */
export const textAsHtml = (text: string): string => `<p>${escapeHtml(text).replace(/\r?\n/g, '<br>')}</p>`;

/**
 * JSON for a `<script type="application/ld+json">` block: `<` `>` `&` and the two JavaScript line
 * terminators as \u escapes, so no text (`</script>`, `<!--`) can end or change the block; the
 * JSON means the same.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * How long coverage is said to run when nothing newer is known: events carry no end time yet
 * (follow-up), and schema.org's LiveBlogPosting wants one; a day from the start covers a festival
 * day, and a newer update moves it on.
 */
export const DEFAULT_COVERAGE_MS = 24 * 60 * 60 * 1000;

/** When coverage starts: the announced start, else when the event was created. */
export const coverageStart = (event: LiveBlogEvent): string => event.startsAt ?? event.createdAt;

/** When coverage ends: a day after the start, or the newest update if that is later. */
export function coverageEnd(event: LiveBlogEvent, entries: readonly Entry[]): string {
  const start = Date.parse(coverageStart(event));
  const newest = Math.max(...entries.map((e) => Date.parse(e.updatedAt)).filter(Number.isFinite), -Infinity);
  return new Date(Math.max(start + DEFAULT_COVERAGE_MS, newest)).toISOString();
}

/**
 * schema.org LiveBlogPosting for an event: one `liveBlogUpdate` (a BlogPosting) per entry given —
 * the caller passes the entries shown (never deleted ones), newest first.
 */
export function liveBlogPosting(
  event: LiveBlogEvent,
  entries: readonly Entry[],
  site: string,
): Record<string, unknown> {
  const url = liveUrl(site, event.eventId);
  return {
    '@context': 'https://schema.org',
    '@type': 'LiveBlogPosting',
    '@id': url,
    url,
    headline: headline(event.title),
    description: shareDescription(event, entries),
    datePublished: event.createdAt,
    dateModified: lastModified(event, entries),
    coverageStartTime: coverageStart(event),
    coverageEndTime: coverageEnd(event, entries),
    liveBlogUpdate: entries.map((e) => ({
      '@type': 'BlogPosting',
      '@id': entryUrl(site, event.eventId, e.seq),
      url: entryUrl(site, event.eventId, e.seq),
      headline: headline(e.text),
      articleBody: e.text,
      datePublished: e.createdAt,
      dateModified: e.updatedAt,
      ...(e.images?.length
        ? {
            image: photosOf(e, site).map((p) => ({
              '@type': 'ImageObject',
              url: p.url,
              width: p.width,
              height: p.height,
              ...(p.alt ? { caption: p.alt } : {}),
            })),
          }
        : {}),
      ...(e.kind === 'key' ? { keywords: 'key moment' } : {}),
    })),
  };
}

/** When the event or any of the entries last changed (ISO strings compare in time order). */
export const lastModified = (event: LiveBlogEvent, entries: readonly Entry[]): string =>
  entries.reduce((latest, e) => (e.updatedAt > latest ? e.updatedAt : latest), event.createdAt);

/** A sharing description: the newest key moment, else the newest entry, else the title. */
export function shareDescription(event: LiveBlogEvent, entries: readonly Entry[]): string {
  const pick = entries.find((e) => e.kind === 'key') ?? entries[0];
  return pick ? headline(pick.text) : headline(event.title);
}
