// edit: a reporter's correction of an entry's text.
import middy from '@middy/core';
import { editFrame } from '../shared/domain/protocol';
import { container } from './lib/container';
import { wsErrors } from './lib/middleware';
import { callerOf, ok, parseFrame, type WsEvent, type WsResult } from './lib/ws';

async function main(event: WsEvent): Promise<WsResult> {
  await container().live.edit(callerOf(event), parseFrame(editFrame, event.body));
  return ok();
}

export const handler = middy(main).use(wsErrors());
