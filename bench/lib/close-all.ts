// Closes client sockets politely, and cuts off any that do not finish closing in time.
import WebSocket from 'ws';

export function closeAll(sockets: readonly WebSocket[], timeoutMs: number): Promise<void> {
  return Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            s.terminate();
            resolve();
          }, timeoutMs);
          s.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          // A socket still in its handshake has nothing to close politely: abort it.
          if (s.readyState === WebSocket.CONNECTING) s.terminate();
          else s.close();
        }),
    ),
  ).then(() => {});
}
