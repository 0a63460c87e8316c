// GET /events/{eventId}/snapshot: the live page as static HTML for crawlers and link previews that
// run no script (CloudFront sends them here for /live/{eventId}: infra/web-stack.ts).
import middy from '@middy/core';
import { notFound } from '../shared/domain/errors';
import { eventIdSchema } from '../shared/domain/protocol';
import { SNAPSHOT_ENTRIES, snapshotHtml } from '../shared/domain/snapshot';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';
import { errorsNotCached, etagOf, matches, notModified, siteOrigin } from './lib/public-read';

/** As the feeds (http-feed.ts): a crawler or a preview a minute behind the live page loses nothing. */
export const SNAPSHOT_CACHE_CONTROL = 'public, max-age=60';

/** Nothing on the page runs or loads: the JSON-LD block is data, not a script a browser executes. */
export const SNAPSHOT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SNAPSHOT_FORMAT = 1;

async function main(event: HttpEvent): Promise<HttpResult> {
  const eventId = pathParam(event, 'eventId');
  const c = container();
  // The event first, as the feeds: the ETag never names a page newer than the one sent.
  const stored = eventIdSchema.safeParse(eventId).success ? await c.eventStore.get(eventId) : undefined;
  if (!stored) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
  const site = siteOrigin(c.config, event);
  const etag = etagOf(SNAPSHOT_FORMAT, site, stored.eventId, stored.lastChange, SNAPSHOT_ENTRIES);
  if (matches(event, etag)) return notModified(etag, SNAPSHOT_CACHE_CONTROL);
  const entries = await c.entries.newestShown(eventId, SNAPSHOT_ENTRIES);
  const base = `${site}/events/${encodeURIComponent(eventId)}`;
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': SNAPSHOT_CACHE_CONTROL,
      etag,
      'content-security-policy': SNAPSHOT_CSP,
      'x-content-type-options': 'nosniff',
    },
    body: snapshotHtml({ event: stored, entries, site, feedUrls: { json: `${base}/feed.json`, atom: `${base}/feed.atom` } }),
  };
}

export const handler = middy(main).use(observe()).use(errorsNotCached()).use(httpErrors());
