// GET /events/{eventId}/timeline?after=&limit=: the entries in seq order, a page at a time.
import middy from '@middy/core';
import { timelineQuery } from '../shared/domain/protocol';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { after, limit } = parseQuery(timelineQuery, event);
  return json(200, await container().events.timeline(pathParam(event, 'eventId'), after, limit));
}

export const handler = middy(main).use(httpErrors());
