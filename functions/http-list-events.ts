// GET /events?after=&limit=: the organiser's list of events, newest first, a page at a time.
import middy from '@middy/core';
import { listEventsQuery } from '../shared/domain/protocol';
import { adminKey } from './lib/admin-key';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, requireAdmin } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

async function main(event: HttpEvent): Promise<HttpResult> {
  // The key first: a caller without it learns nothing, not even whether its query was well formed.
  requireAdmin(event, await adminKey().get());
  const { after, limit } = parseQuery(listEventsQuery, event);
  const result = json(200, await container().events.list(after, limit));
  // The organiser's private view: no shared cache may keep it.
  return { ...result, headers: { ...result.headers, 'cache-control': 'private, no-store' } };
}

export const handler = middy(main).use(observe()).use(httpErrors());
