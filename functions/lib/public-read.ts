// Anonymous, cacheable reads (feeds, the crawler's snapshot): where the site is, ETags and 304s,
// errors kept out of caches.
import { createHash } from 'node:crypto';
import type { MiddlewareObj } from '@middy/core';
import type { Config } from '../../shared/config';
import { notFound } from '../../shared/domain/errors';
import type { EventRecord } from '../../shared/domain/ports';
import { eventIdSchema, type Entry } from '../../shared/domain/protocol';
import { container } from './container';
import { type HttpEvent, type HttpResult, pathParam } from './http';

/**
 * The pages' origin for links: the configured one (a deployed stage's pages domain), else the
 * request's own origin — on the local stage the pages and the API share one port.
 */
export function siteOrigin(config: Pick<Config, 'siteOrigin'>, event: HttpEvent): string {
  if (config.siteOrigin) return config.siteOrigin;
  const proto = event.headers?.['x-forwarded-proto'] === 'http' ? 'http' : 'https';
  return `${proto}://${event.requestContext.domainName}`;
}

/** A strong ETag from what the answer is made of: the same inputs, the same bytes. */
export const etagOf = (...parts: ReadonlyArray<string | number>): string =>
  `"${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22)}"`;

/** If-None-Match names this ETag (or `*`): weak comparison, as RFC 9110 wants for GET. */
export function matches(event: HttpEvent, etag: string): boolean {
  const header = event.headers?.['if-none-match'] ?? event.headers?.['If-None-Match'];
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}

/** 304: no body, the validators and caching again (a cache refreshes its copy's freshness from them). */
export const notModified = (etag: string, cacheControl: string): HttpResult => ({
  statusCode: 304,
  headers: { etag, 'cache-control': cacheControl },
  body: '',
});

/** An error is never kept by a cache: the next try must reach the API (an event just created, a 429 over). */
export const errorsNotCached = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: (request) => {
    if (request.response) request.response.headers = { ...request.response.headers, 'cache-control': 'no-store' };
  },
});

export interface NewestShown {
  stored: EventRecord;
  /** The newest entries not deleted, newest first. */
  entries: Entry[];
  site: string;
  feedUrls: { json: string; atom: string };
  etag: string;
}

/**
 * The read the feeds and the snapshot make alike. The event first: every change up to its
 * lastChange is in the entries read after it, so the ETag never names an answer newer than the one
 * sent (at worst an older one: one more 200). A reader holding the current ETag gets a 304 without
 * an entry read; otherwise the newest `count` entries not deleted. The ETag is `etagPrefix` (the
 * answer's format), the site, the event, its last change and `count`.
 */
export async function readNewestShown(
  event: HttpEvent,
  count: number,
  cacheControl: string,
  etagPrefix: ReadonlyArray<string | number>,
): Promise<NewestShown | { notModified: HttpResult }> {
  const eventId = pathParam(event, 'eventId');
  const c = container();
  const stored = eventIdSchema.safeParse(eventId).success ? await c.eventStore.get(eventId) : undefined;
  if (!stored) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
  const site = siteOrigin(c.config, event);
  const etag = etagOf(...etagPrefix, site, stored.eventId, stored.lastChange, count);
  if (matches(event, etag)) return { notModified: notModified(etag, cacheControl) };
  const entries = await c.entries.newestShown(eventId, count);
  const base = `${site}/events/${encodeURIComponent(eventId)}`;
  return { stored, entries, site, feedUrls: { json: `${base}/feed.json`, atom: `${base}/feed.atom` }, etag };
}
