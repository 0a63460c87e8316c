// sync: a (re)connecting client catches up on the entries after the seq it holds (at most `limit`), then `synced`.
import middy from '@middy/core';
import { rateLimited } from '../shared/domain/errors';
import { SYNC_POSTS_PER_CONNECTION, syncPostsPerAddress } from '../shared/domain/limits/allowances';
import type { Verdict } from '../shared/domain/limits/rate-limiter';
import { syncFrame } from '../shared/domain/protocol';
import { addressKey } from '../shared/domain/reposts/sources';
import { container } from './lib/container';
import { live } from './lib/live';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, ok, parseFrame, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

type SyncEvent = WsEvent & { requestContext: { identity?: { sourceIp?: string } } };

async function main(event: SyncEvent): Promise<WsResult> {
  const { since, sinceChange, limit } = parseFrame(syncFrame, event.body);
  const c = container();
  const caller = callerOf(event);
  const address = addressKey(event.requestContext.identity?.sourceIp);
  // What the reply costs in @connections posts, charged to the connection and to its source
  // address before anything is posted: the count of syncs alone (rateLimit) does not bound a
  // reconnecting flooder's pull of a long history.
  const charge = async (posts: number) => {
    const verdicts: Verdict[] = await Promise.all([
      c.limiter.take(`${caller.connectionId}:sync-posts`, SYNC_POSTS_PER_CONNECTION, posts),
      c.limiter.take(`addr:${address}:sync-posts`, syncPostsPerAddress(c.config.syncPostsPerAddress), posts),
    ]);
    const refused = verdicts.filter((v) => !v.ok);
    if (refused.length > 0) {
      const retryAfterMs = Math.max(...refused.map((v) => (v.ok ? 0 : v.retryAfterMs)));
      throw rateLimited(
        `this catch-up would take ${posts} messages, past what one connection or address may pull a minute; load the history over HTTP (GET /events/{id}/timeline) and sync only the gap`,
        retryAfterMs,
      );
    }
  };
  await live().sync(caller, since, sinceChange, limit, charge);
  return ok();
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
