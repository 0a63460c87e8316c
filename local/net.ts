// Port helpers for the local stage: a free port on request, a clear error when one is taken.
import { createServer } from 'node:net';
import { listen } from './errors';

/** Resolves when `port` can be bound on `host`; rejects, naming the variable that moves it, when it is taken. */
export async function ensurePortFree(port: number, host: string, variable: string, what: string): Promise<void> {
  const server = createServer();
  await listen(server, port, host, variable, what);
  await new Promise((resolve) => server.close(resolve));
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
