// delete: a reporter withdraws an entry; it keeps its seq, its text goes.
import middy from '@middy/core';
import { deleteFrame } from '../shared/domain/protocol';
import { live } from './lib/live';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

async function main(event: WsEvent): Promise<WsResult> {
  // The ack is the route's response: it spends none of the @connections budget, so a storm cannot throttle it away.
  return reply(await live().delete(callerOf(event), parseFrame(deleteFrame, event.body)));
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
