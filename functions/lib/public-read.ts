// Anonymous, cacheable reads (feeds, the crawler's snapshot): where the site is, ETags and 304s,
// errors kept out of caches.
import { createHash } from 'node:crypto';
import type { MiddlewareObj } from '@middy/core';
import type { Config } from '../../shared/config';
import type { HttpEvent, HttpResult } from './http';

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
