// GET /events/{eventId}/timeline?after=&limit=: the entries in seq order, a page at a time.
import middy, { type MiddlewareObj } from '@middy/core';
import { notFound } from '../shared/domain/errors';
import { eventIdSchema, timelineQuery } from '../shared/domain/protocol';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

/**
 * A page may be a moment old: the live page reads the history here, then asks the socket's `sync`
 * for what came after it (by seq, and by `lastChange` for corrections), so a copy 2 s old costs a
 * reader nothing, and a reconnect wave reloading the page is answered by caches, not by Lambda.
 * Longer would only make that sync longer. `public`: the page is the same for everyone.
 */
export const TIMELINE_CACHE_CONTROL = 'public, max-age=2';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { after, limit } = parseQuery(timelineQuery, event);
  const eventId = pathParam(event, 'eventId');
  const c = container();
  // Read before the entries, so every change up to it is in them: the `sinceChange` a reader of
  // this page gives `sync` to hear of the corrections made after it was read (an extension of v1).
  const stored = eventIdSchema.safeParse(eventId).success ? await c.eventStore.get(eventId) : undefined;
  if (!stored) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
  const page = await c.events.timeline(eventId, after, limit);
  const result = json(200, { ...page, lastChange: stored.lastChange });
  return { ...result, headers: { ...result.headers, 'cache-control': TIMELINE_CACHE_CONTROL } };
}

/** An error is never kept by a cache: the next try must reach the API (an event just created, a 429 over). */
const errorsNotCached = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: (request) => {
    if (request.response) request.response.headers = { ...request.response.headers, 'cache-control': 'no-store' };
  },
});

// onError runs last-used first: httpErrors shapes the error, then it is marked not to be cached.
export const handler = middy(main).use(observe()).use(errorsNotCached()).use(httpErrors());
