// $disconnect (best effort on AWS): removes the row; 410s and TTL catch the rest. Each removal, TTL's
// included, reaches the viewer count through the Connections stream (viewer-stats.ts).
import middy from '@middy/core';
import { container } from './lib/container';
import { callerOf, ok, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

async function main(event: WsEvent): Promise<WsResult> {
  await container().connections.remove(callerOf(event));
  return ok();
}

export const handler = middy(main).use(observe());
