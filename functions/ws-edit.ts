// edit: a reporter's correction of an entry's text and, with `images`, of its photos.
import middy from '@middy/core';
import { editFrame } from '../shared/domain/protocol';
import { liveWithImages } from './lib/live-images';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

async function main(event: WsEvent): Promise<WsResult> {
  // The ack is the route's response: it spends none of the @connections budget, so a storm cannot throttle it away.
  return reply(await liveWithImages().edit(callerOf(event), parseFrame(editFrame, event.body)));
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
