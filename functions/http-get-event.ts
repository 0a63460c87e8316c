// GET /events/{eventId}: the event, its last seq and its live viewer count.
import middy from '@middy/core';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, pathParam } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

async function main(event: HttpEvent): Promise<HttpResult> {
  return json(200, await container().events.get(pathParam(event, 'eventId')));
}

export const handler = middy(main).use(observe()).use(httpErrors());
