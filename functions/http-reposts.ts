// GET /events/{eventId}/reposts?bucket=1|10|60: the repost series, the spikes recorded, the total.
// Anonymous and read only: it writes nothing (the tally and the sweep judge spikes), reads the
// buckets the tally keeps, and may be cached for 5 s by anyone (browsers, a CDN) and by this container.
import middy, { type MiddlewareObj } from '@middy/core';
import type { RepostSeries } from '../shared/domain/ports';
import { repostsQuery } from '../shared/domain/protocol';
import { REPOSTS_VIEW_CACHE_MS, RepostsReader } from '../shared/domain/reposts/reposts-view';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

let reader: RepostsReader | undefined;
const readerOf = () => {
  if (reader) return reader;
  const c = container();
  // The container's store is the DynamoDB one, which keeps the series as well (RepostSeries).
  const reposts = c.repostStore as typeof c.repostStore & Partial<RepostSeries>;
  if (typeof reposts.series !== 'function') throw new Error('the repost store does not read the series');
  return (reader = new RepostsReader({
    events: c.eventStore,
    reposts: reposts as typeof reposts & RepostSeries,
    now: Date.now,
  }));
};

async function main(event: HttpEvent): Promise<HttpResult> {
  const { bucket } = parseQuery(repostsQuery, event);
  const view = await readerOf().view(pathParam(event, 'eventId'), bucket);
  const res = json(200, view);
  return { ...res, headers: { ...res.headers, 'cache-control': `public, max-age=${REPOSTS_VIEW_CACHE_MS / 1000}` } };
}

/** An error is never cached: a 404 for an event created a moment later, a 500, must not stick. Runs after httpErrors built the response. */
const noStoreOnError = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: (request) => {
    const res = request.response;
    if (res && typeof res === 'object') res.headers = { ...res.headers, 'cache-control': 'no-store' };
  },
});

// onError runs in reverse order of use(): httpErrors first, then noStoreOnError on its response.
export const handler = middy(main).use(observe()).use(noStoreOnError()).use(httpErrors());
