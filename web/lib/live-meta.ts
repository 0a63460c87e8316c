// What the live page tells search engines that run its script, and the browser's tab and share
// sheet: the title, the description and Open Graph tags, and schema.org LiveBlogPosting JSON-LD,
// kept current as entries arrive. Bots that run no script get the same from the crawler snapshot
// (docs/architecture.md "Crawlers and feeds"), built by the same pure functions.
import {
  headline,
  jsonForScript,
  liveBlogPosting,
  liveUrl,
  type LiveBlogEvent,
  shareDescription,
} from '../../shared/domain/live-blog';
import type { Entry } from '../../shared/domain/protocol';

/** As many updates as the crawler snapshot carries (shared/domain/snapshot.ts SNAPSHOT_ENTRIES). */
export const JSON_LD_ENTRIES = 100;

function metaTag(attr: 'name' | 'property', key: string): HTMLMetaElement {
  let el = document.head.querySelector<HTMLMetaElement>(`meta[${attr}="${key}"]`);
  if (!el) {
    el = document.createElement('meta');
    el.setAttribute(attr, key);
    document.head.append(el);
  }
  return el;
}

/**
 * Sets the head for `entries` (shown ones, none deleted, newest first): the JSON-LD block (a data
 * block: the pages' CSP `script-src 'self'` does not apply to what is never run), description,
 * canonical link and og:/twitter: tags. Only what changed is written.
 */
export function showLiveMeta(event: LiveBlogEvent, entries: readonly Entry[], site: string): void {
  const newest = entries.slice(0, JSON_LD_ENTRIES);
  const title = headline(event.title);
  const description = shareDescription(event, newest);
  const url = liveUrl(site, event.eventId);
  const set = (el: Element, name: string, value: string) => {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  };
  set(metaTag('name', 'description'), 'content', description);
  for (const [key, value] of [
    ['og:type', 'article'],
    ['og:title', title],
    ['og:description', description],
    ['og:url', url],
  ] as const)
    set(metaTag('property', key), 'content', value);
  for (const [key, value] of [
    ['twitter:card', 'summary'],
    ['twitter:title', title],
    ['twitter:description', description],
  ] as const)
    set(metaTag('name', key), 'content', value);
  let canonical = document.head.querySelector<HTMLLinkElement>('link[rel=canonical]');
  if (!canonical) {
    canonical = document.createElement('link');
    canonical.rel = 'canonical';
    document.head.append(canonical);
  }
  set(canonical, 'href', url);
  let ld = document.head.querySelector<HTMLScriptElement>('script[type="application/ld+json"]');
  if (!ld) {
    ld = document.createElement('script');
    ld.type = 'application/ld+json';
    document.head.append(ld);
  }
  const json = jsonForScript(liveBlogPosting(event, newest, site));
  if (ld.textContent !== json) ld.textContent = json;
}
