// $default on the HTTP API: any other path gets the contract's error shape instead of a bare 404.
import middy from '@middy/core';
import { notFound } from '../shared/domain/errors';
import type { HttpEvent, HttpResult } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

async function main(event: HttpEvent): Promise<HttpResult> {
  throw notFound(`no route for ${event.requestContext.http.method} ${event.rawPath}`);
}

export const handler = middy(main).use(observe()).use(httpErrors());
