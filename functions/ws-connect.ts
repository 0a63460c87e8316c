// $connect: records the connection so delivery reaches it from this moment. The event's item is only
// read: the viewer count follows from the Connections stream (viewer-stats.ts).
import middy from '@middy/core';
import { container } from './lib/container';
import { callerOf, type WsEvent, type WsResult } from './lib/ws';
import { observe } from './lib/observe';

async function main(event: WsEvent): Promise<WsResult> {
  const { connectionId, eventId, role } = callerOf(event);
  const { connections, eventStore } = container();
  // Read before the row exists: any change numbered after this is owed to the connection, and any
  // change committed before the read came before the handshake (sync covers it).
  const current = await eventStore.get(eventId);
  if (!current) return { statusCode: 404 };
  const connectedAt = new Date(event.requestContext.connectedAt ?? Date.now()).toISOString();
  const added = await connections.add({ connectionId, eventId, role, connectedAt, fromChange: current.lastChange });
  return { statusCode: added ? 200 : 404 };
}

export const handler = middy(main).use(observe());
