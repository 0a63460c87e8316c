// GET /events/{eventId}/snapshot: the live page as static HTML for crawlers and link previews that
// run no script (CloudFront sends them here for /live/{eventId}: infra/web-stack.ts).
import middy from '@middy/core';
import { SNAPSHOT_ENTRIES, snapshotHtml } from '../shared/domain/snapshot';
import type { HttpEvent, HttpResult } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';
import { errorsNotCached, readNewestShown } from './lib/public-read';

/** As the feeds (http-feed.ts): a crawler or a preview a minute behind the live page loses nothing. */
export const SNAPSHOT_CACHE_CONTROL = 'public, max-age=60';

/** Nothing on the page runs or loads: the JSON-LD block is data, not a script a browser executes. */
export const SNAPSHOT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SNAPSHOT_FORMAT = 1;

async function main(event: HttpEvent): Promise<HttpResult> {
  const read = await readNewestShown(event, SNAPSHOT_ENTRIES, SNAPSHOT_CACHE_CONTROL, [SNAPSHOT_FORMAT]);
  if ('notModified' in read) return read.notModified;
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': SNAPSHOT_CACHE_CONTROL,
      etag: read.etag,
      'content-security-policy': SNAPSHOT_CSP,
      'x-content-type-options': 'nosniff',
    },
    body: snapshotHtml({ event: read.stored, entries: read.entries, site: read.site, feedUrls: read.feedUrls }),
  };
}

export const handler = middy(main).use(observe()).use(errorsNotCached()).use(httpErrors());
