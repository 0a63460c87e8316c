// POST /events/{eventId}/operator-token: the organiser replaces the reporter's token; the new one is returned, once.
import middy from '@middy/core';
import { adminKey } from './lib/admin-key';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, pathParam, requireAdmin } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { events } = container();
  requireAdmin(event, await adminKey().get());
  // 200, not 201: nothing is created at a new URL; the event's token is replaced in place.
  return json(200, await events.rotateToken(pathParam(event, 'eventId')));
}

export const handler = middy(main).use(observe()).use(httpErrors());
