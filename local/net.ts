// Port helpers for the local stage: a free port on request, a clear error when one is taken.
import { createServer } from 'node:net';

/** Resolves when `port` can be bound on `host`; rejects with a message naming the variable that moves it. */
export function ensurePortFree(port: number, host: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is already in use; stop what holds it or set ${variable} to another port`
            : `cannot listen on ${host}:${port} (${err.code ?? err.message}); set ${variable} to another port`,
        ),
      );
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/** A port the OS says is free right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
