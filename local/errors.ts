// Start-up failures of the local gateways, worded so the person running `npm start` knows what to change.
import type { Server } from 'node:net';

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly host: string,
    readonly envVar: string,
    readonly what: string,
  ) {
    super(
      `${what}: port ${port} on ${host} is already taken by another process. ` +
        `Stop that process or choose another port with the ${envVar} environment variable (e.g. ${envVar}=${port + 10}).`,
    );
  }
}

/**
 * Listens and resolves with the bound port; an address-in-use failure becomes a PortInUseError
 * naming the variable that sets the port, instead of a bare EADDRINUSE.
 */
export function listen(
  server: Server,
  port: number,
  host: string,
  envVar: string,
  what: string,
  backlog?: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, host, envVar, what) : err);
    };
    const onListening = () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if (backlog === undefined) server.listen(port, host);
    else server.listen(port, host, backlog);
  });
}
