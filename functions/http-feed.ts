// GET /events/{eventId}/feed.json and /feed.atom: the event's newest entries for feed readers.
import middy from '@middy/core';
import { atomFeed, FEED_ITEMS, jsonFeed } from '../shared/domain/feeds';
import type { HttpEvent, HttpResult } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';
import { errorsNotCached, readNewestShown } from './lib/public-read';

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
  const read = await readNewestShown(event, FEED_ITEMS, FEED_CACHE_CONTROL, [FEED_FORMAT, format]);
  if ('notModified' in read) return read.notModified;
  const input = { event: read.stored, entries: read.entries, site: read.site, feedUrls: read.feedUrls };
  return {
    statusCode: 200,
    headers: { 'content-type': TYPES[format], 'cache-control': FEED_CACHE_CONTROL, etag: read.etag },
    body: format === 'atom' ? atomFeed(input) : jsonFeed(input),
  };
}

// onError runs last-used first: httpErrors shapes the error, then it is marked not to be cached.
export const handler = middy(main).use(observe()).use(errorsNotCached()).use(httpErrors());
