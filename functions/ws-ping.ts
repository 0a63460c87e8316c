// ping: a keep-alive (API Gateway drops a connection after 10 idle minutes) answered with pong.
import middy from '@middy/core';
import { pingFrame } from '../shared/domain/protocol';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

async function main(event: WsEvent): Promise<WsResult> {
  parseFrame(pingFrame, event.body);
  return reply({ type: 'pong' });
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
