// repost: a connected viewer (or the reporter) reposts an entry; counted once per viewer and seq —
// the signed viewer id its handshake proved, or for a client without one, its source address.
import middy from '@middy/core';
import { repostFrame } from '../shared/domain/protocol';
import { container } from './lib/container';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, parseFrame, reply, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

/** What API Gateway adds to every event of the connection: the authorizer's context (`viewer`, see ws-authorize.ts) and the source address. */
type RepostEvent = WsEvent & {
  requestContext: { identity?: { sourceIp?: string }; authorizer?: { viewer?: string } | null };
};

async function main(event: RepostEvent): Promise<WsResult> {
  const { identity, authorizer } = event.requestContext;
  const origin = {
    ...(authorizer?.viewer ? { viewer: authorizer.viewer } : {}),
    ...(identity?.sourceIp ? { sourceIp: identity.sourceIp } : {}),
  };
  // The ack is the route response: it leaves after the repost is stored.
  return reply(await container().reposts.repost(callerOf(event), parseFrame(repostFrame, event.body), origin));
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
