// POST /events: the organiser creates an event and receives its operator token, once.
import middy from '@middy/core';
import { createEventBody } from '../shared/domain/protocol';
import { adminKey } from './lib/admin-key';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseBody, requireAdmin } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

async function main(event: HttpEvent): Promise<HttpResult> {
  const { events } = container();
  requireAdmin(event, await adminKey().get());
  const created = await events.create(parseBody(createEventBody, event));
  return json(201, created);
}

export const handler = middy(main).use(observe()).use(httpErrors());
