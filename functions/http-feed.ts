// GET /events/{eventId}/feed.json and /feed.atom: the event's newest entries for feed readers.
import middy from '@middy/core';
import { notFound } from '../shared/domain/errors';
import { atomFeed, FEED_ITEMS, jsonFeed } from '../shared/domain/feeds';
import { eventIdSchema } from '../shared/domain/protocol';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';
import { errorsNotCached, etagOf, matches, notModified, siteOrigin } from './lib/public-read';

/**
 * Feed readers poll every few minutes to hours; a popular event's feed may be polled by thousands
 * of them. 60 s in a shared cache (CloudFront) turns those into one read a minute per edge, and an
 * update reaches a reader at most a minute later than its own polling would — the live page is the
 * real-time path, not the feed. Then revalidation with the ETag: a 304 reads one item, no entries.
 */
export const FEED_CACHE_CONTROL = 'public, max-age=60';

/** Bump when the feeds' shape changes, so no reader keeps a copy made by the old code. */
const FEED_FORMAT = 1;

const TYPES = { json: 'application/feed+json; charset=utf-8', atom: 'application/atom+xml; charset=utf-8' } as const;

async function main(event: HttpEvent): Promise<HttpResult> {
  const format = event.rawPath.endsWith('.atom') ? 'atom' : 'json';
  const eventId = pathParam(event, 'eventId');
  const c = container();
  // The event first: every change up to its lastChange is in the entries read after it, so the
  // ETag never names an answer newer than the one sent (at worst an older one: one more 200).
  const stored = eventIdSchema.safeParse(eventId).success ? await c.eventStore.get(eventId) : undefined;
  if (!stored) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
  const site = siteOrigin(c.config, event);
  const etag = etagOf(FEED_FORMAT, format, site, stored.eventId, stored.lastChange, FEED_ITEMS);
  if (matches(event, etag)) return notModified(etag, FEED_CACHE_CONTROL);

  const entries = await c.entries.newestShown(eventId, FEED_ITEMS);
  const base = `${site}/events/${encodeURIComponent(eventId)}`;
  const input = { event: stored, entries, site, feedUrls: { json: `${base}/feed.json`, atom: `${base}/feed.atom` } };
  return {
    statusCode: 200,
    headers: { 'content-type': TYPES[format], 'cache-control': FEED_CACHE_CONTROL, etag },
    body: format === 'atom' ? atomFeed(input) : jsonFeed(input),
  };
}

// onError runs last-used first: httpErrors shapes the error, then it is marked not to be cached.
export const handler = middy(main).use(observe()).use(errorsNotCached()).use(httpErrors());
