// One real WebSocket opened by a bench child: resolves once open, rejects on a refusal (the HTTP
// status named), an error or the timeout. `listen` attaches handlers before the handshake (a frame
// can arrive in the same chunk as the upgrade response); `opened` runs synchronously at 'open',
// before any of those frames is handled.
import WebSocket from 'ws';

export function openSocket(
  url: string,
  timeoutMs: number,
  hooks: { listen?: (socket: WebSocket) => void; opened?: (socket: WebSocket) => void } = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error('connect timed out'));
    }, timeoutMs);
    hooks.listen?.(socket);
    socket.once('open', () => {
      clearTimeout(timer);
      hooks.opened?.(socket);
      resolve(socket);
    });
    socket.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      socket.terminate();
      reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
