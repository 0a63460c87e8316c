// repost: a connected viewer (or the reporter) reposts an entry; counted once per connection and seq.
import middy from '@middy/core';
import { repostFrame } from '../shared/domain/protocol';
import { container } from './lib/container';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';

async function main(event: WsEvent): Promise<WsResult> {
  // The ack is the route response: it leaves after the repost is stored.
  return reply(await container().reposts.repost(callerOf(event), parseFrame(repostFrame, event.body)));
}

export const handler = middy(main).use(wsErrors()).use(rateLimit());
