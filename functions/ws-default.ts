// $default: every frame no route claims — not JSON, no action, or an action livecast does not know.
// (Every action in CLIENT_ACTIONS has a route of its own in shared/routes.ts, so a known one never
// arrives here.)
import middy from '@middy/core';
import { badRequest } from '../shared/domain/errors';
import { CLIENT_ACTIONS } from '../shared/domain/protocol';
import { wsErrors } from './lib/middleware';
import { rateLimit } from './lib/rate-limit';
import { parseJson, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

const known = CLIENT_ACTIONS.join(', ');

async function main(event: WsEvent): Promise<WsResult> {
  if (event.isBase64Encoded) throw badRequest('binary frames are not supported: send JSON text');
  const frame = parseJson(event.body);
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw badRequest('a frame must be a JSON object with an "action"');
  }
  const action = (frame as { action?: unknown }).action;
  if (action === undefined) throw badRequest(`the frame has no "action"; one of: ${known}`);
  if (typeof action !== 'string') throw badRequest('"action" must be a string');
  throw badRequest(`unknown action ${JSON.stringify(action.slice(0, 64))}; one of: ${known}`);
}

export const handler = middy(main).use(observe()).use(wsErrors()).use(rateLimit());
