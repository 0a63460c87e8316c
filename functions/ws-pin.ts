// pin: a reporter pins an entry to the top of the live page, or unpins it.
import middy from '@middy/core';
import { pinFrame } from '../shared/domain/protocol';
import { live } from './lib/live';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

async function main(event: WsEvent): Promise<WsResult> {
  // The ack is the route's response: it spends none of the @connections budget, so a storm cannot throttle it away.
  return reply(await live().pin(callerOf(event), parseFrame(pinFrame, event.body)));
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
