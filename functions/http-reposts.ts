// GET /events/{eventId}/reposts?bucket=1|10|60: the repost series, the spikes recorded, the total.
import middy from '@middy/core';
import { repostsQuery } from '../shared/domain/protocol';
import { judgeSeconds } from '../shared/domain/reposts/repost-service';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { bucket } = parseQuery(repostsQuery, event);
  const eventId = pathParam(event, 'eventId');
  const c = container();
  const view = await c.events.reposts(eventId, bucket); // not_found before anything is written
  // The detector judges seconds as the tally sees reposts; after a wave has died away nothing
  // arrives to end its spike, so a read brings the detector up to date first.
  const { spikes } = await judgeSeconds(eventId, { reposts: c.repostStore, entries: c.entries, now: Date.now, log: c.log });
  return json(200, spikes.length > 0 ? await c.events.reposts(eventId, bucket) : view);
}

export const handler = middy(main).use(httpErrors());
