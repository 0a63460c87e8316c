// publish: a reporter's new update: stored with the next seq, acked, then sent to every connection.
import middy from '@middy/core';
import { publishFrame } from '../shared/domain/protocol';
import { liveWithImages } from './lib/live-images';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';
import { tracing } from './lib/observe-trace';

async function main(event: WsEvent): Promise<WsResult> {
  // The ack is the route's response: it spends none of the @connections budget, so a storm cannot throttle it away.
  return reply(await liveWithImages().publish(callerOf(event), parseFrame(publishFrame, event.body)));
}

export const handler = middy(main)
  .use(observe({ trace: tracing(), ackLatency: true }))
  .use(wsErrors())
  .use(rateLimit());
