// The machine's ceiling: a bare `ws` server that turns each publish into the same update frame livecast sends and broadcasts it, serialized once, to every socket.
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import type { Entry } from '../../shared/domain/protocol';

export interface BareServer {
  readonly url: string;
  connections(): number;
  close(): Promise<void>;
}

export async function startBareServer(eventId: string): Promise<BareServer> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  let seq = 0;
  wss.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      let frame: { action?: unknown; text?: unknown };
      try {
        frame = JSON.parse(data.toString('utf8')) as typeof frame;
      } catch {
        return;
      }
      if (frame.action !== 'publish' || typeof frame.text !== 'string') return;
      const at = new Date().toISOString();
      const entry: Entry = {
        seq: ++seq,
        rev: 1,
        kind: 'text',
        text: frame.text,
        pinned: false,
        deleted: false,
        createdAt: at,
        updatedAt: at,
        reposts: 0,
        images: [],
      };
      const bytes = Buffer.from(JSON.stringify({ type: 'update', eventId, entry }));
      for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(bytes, { binary: false });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `ws://127.0.0.1:${port}/?eventId=${eventId}`,
    connections: () => wss.clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => server.close(() => resolve()));
      }),
  };
}
