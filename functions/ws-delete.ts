// delete: a reporter withdraws an entry; it keeps its seq, its text goes.
import middy from '@middy/core';
import { deleteFrame } from '../shared/domain/protocol';
import { container } from './lib/container';
import { wsErrors } from './lib/middleware';
import { callerOf, ok, parseFrame, type WsEvent, type WsResult } from './lib/ws';

async function main(event: WsEvent): Promise<WsResult> {
  await container().live.delete(callerOf(event), parseFrame(deleteFrame, event.body));
  return ok();
}

export const handler = middy(main).use(wsErrors());
