// sync: a (re)connecting client catches up on the entries after the seq it holds (at most `limit`), then `synced`.
import middy from '@middy/core';
import { syncFrame } from '../shared/domain/protocol';
import { container } from './lib/container';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { callerOf, ok, parseFrame, type WsEvent, type WsResult } from './lib/ws';

async function main(event: WsEvent): Promise<WsResult> {
  const { since, sinceChange, limit } = parseFrame(syncFrame, event.body);
  await container().live.sync(callerOf(event), since, sinceChange, limit);
  return ok();
}

export const handler = middy(main).use(wsErrors()).use(rateLimit());
