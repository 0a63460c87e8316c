// The static HTML a crawler or a link-preview bot gets for an event's live page: the entries as
// text, the LiveBlogPosting JSON-LD, Open Graph and Twitter tags, and the way to the live page.
// Every piece of text is escaped; no script runs (the JSON-LD block is data).
import {
  entryUrl,
  escapeHtml,
  headline,
  jsonForScript,
  liveBlogPosting,
  liveUrl,
  type LiveBlogEvent,
  newestPhoto,
  photosAsHtml,
  shareDescription,
  textAsHtml,
} from './live-blog';
import type { Entry } from './protocol';

/**
 * The newest entries a snapshot shows. A crawler indexes what is on the page and a preview shows
 * one line; 100 2,000-character Chinese entries are ~600 KB of text (twice that with the JSON-LD
 * carrying them again), well inside what search engines read of a page (Google: 15 MB).
 */
export const SNAPSHOT_ENTRIES = 100;

export interface SnapshotInput {
  event: LiveBlogEvent;
  /** The entries shown (none deleted), newest first. */
  entries: readonly Entry[];
  /** The pages' origin. */
  site: string;
  /** The feeds' URLs, for readers' autodiscovery. */
  feedUrls: { json: string; atom: string };
}

export function snapshotHtml({ event, entries, site, feedUrls }: SnapshotInput): string {
  const url = liveUrl(site, event.eventId);
  const title = escapeHtml(headline(event.title));
  const description = escapeHtml(shareDescription(event, entries));
  const meta = (attr: 'property' | 'name', key: string, value: string) => `<meta ${attr}="${key}" content="${value}">`;
  // A shared link shows the newest photo, large, when there is one.
  const photo = newestPhoto(entries, site);
  const photoTags = photo
    ? [
        meta('property', 'og:image', escapeHtml(photo.url)),
        meta('property', 'og:image:width', String(photo.width)),
        meta('property', 'og:image:height', String(photo.height)),
        ...(photo.alt ? [meta('property', 'og:image:alt', escapeHtml(photo.alt))] : []),
        meta('name', 'twitter:image', escapeHtml(photo.url)),
      ].join('\n') + '\n'
    : '';
  const items = entries
    .map((e) => {
      const mark = e.kind === 'key' ? ' data-kind="key"' : '';
      return `<li id="entry-${e.seq}"${mark}><a href="${escapeHtml(entryUrl(site, event.eventId, e.seq))}"><time datetime="${escapeHtml(e.createdAt)}">${escapeHtml(e.createdAt)}</time></a>${textAsHtml(e.text)}${photosAsHtml(e, site)}</li>`;
    })
    .join('\n');
  // No `lang`: the text is in whatever language the reporters write; the interface words are both.
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<meta name="description" content="${description}">
<link rel="canonical" href="${escapeHtml(url)}">
<link rel="alternate" type="application/feed+json" href="${escapeHtml(feedUrls.json)}">
<link rel="alternate" type="application/atom+xml" href="${escapeHtml(feedUrls.atom)}">
${meta('property', 'og:type', 'article')}
${meta('property', 'og:title', title)}
${meta('property', 'og:description', description)}
${meta('property', 'og:url', escapeHtml(url))}
${photoTags}${meta('name', 'twitter:card', photo ? 'summary_large_image' : 'summary')}
${meta('name', 'twitter:title', title)}
${meta('name', 'twitter:description', description)}
<script type="application/ld+json">${jsonForScript(liveBlogPosting(event, entries, site))}</script>
</head>
<body>
<main>
<h1>${escapeHtml(event.title)}</h1>
<p><a href="${escapeHtml(url)}">直播 · Live</a></p>
<ol reversed>
${items}
</ol>
</main>
</body>
</html>
`;
}
