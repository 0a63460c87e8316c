// $connect: records the connection (and counts the viewer) so fan-out reaches it from this moment.
import middy from '@middy/core';
import { container } from './lib/container';
import { callerOf, type WsEvent, type WsResult } from './lib/ws';

async function main(event: WsEvent): Promise<WsResult> {
  const { connectionId, eventId, role } = callerOf(event);
  const connectedAt = new Date(event.requestContext.connectedAt ?? Date.now()).toISOString();
  const added = await container().connections.add({ connectionId, eventId, role, connectedAt });
  return { statusCode: added ? 200 : 404 };
}

export const handler = middy(main);
