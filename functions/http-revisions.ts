// GET /events/{eventId}/revisions?after=&limit=: every revision of every entry in the order made (the replay's export).
import middy from '@middy/core';
import { revisionsQuery } from '../shared/domain/protocol';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { after, limit } = parseQuery(revisionsQuery, event);
  return json(200, await container().events.revisions(pathParam(event, 'eventId'), after, limit));
}

export const handler = middy(main).use(httpErrors());
