// GET /events/{eventId}/revisions?after=&limit=: every revision of every entry in the order made (the replay's export).
// Anyone gets deleted entries' history without its text; the organiser (admin key) gets every revision as stored.
import middy from '@middy/core';
import { revisionsQuery } from '../shared/domain/protocol';
import { adminKey } from './lib/admin-key';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseQuery, pathParam, requireAdmin } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { after, limit } = parseQuery(revisionsQuery, event);
  const { events } = container();
  // A key that is sent must be the right one: a wrong key is refused (401), never read as anonymous,
  // so an organiser with a stale key learns it instead of getting a history with holes.
  const sentKey = (event.headers?.authorization ?? event.headers?.Authorization) !== undefined;
  if (sentKey) requireAdmin(event, await adminKey().get());
  return json(200, await events.revisions(pathParam(event, 'eventId'), after, limit, sentKey ? 'organiser' : 'anyone'));
}

export const handler = middy(main).use(observe()).use(httpErrors());
