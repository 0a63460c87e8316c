// Local stand-in for an API Gateway WebSocket stage: runs the handshake through the $connect
// authorizer and route, invokes route handlers in-process with the events AWS builds, and serves
// the @connections management API on the same port, so the same handler code runs here and deployed.
// The parts live in local/ws-gateway/: handshake.ts (admission, authorizer.ts, $connect), events.ts
// (the events' shapes), connections.ts (sockets, frames, $disconnect), management-api.ts
// (@connections and AWS's limits), virtual-connections.ts (the benchmarks' socketless viewers).
import http from 'node:http';
import { Limiter, describeLimits } from './aws-limits';
import { listen } from './errors';
import { HandshakeAdmission } from './handshake-admission';
import { Connections } from './ws-gateway/connections';
import { EventShapes } from './ws-gateway/events';
import { Handshakes } from './ws-gateway/handshake';
import { ManagementApi } from './ws-gateway/management-api';
import { type WsGateway, type WsGatewayOptions, newStats } from './ws-gateway/types';
import { VirtualConnections } from './ws-gateway/virtual-connections';

export {
  type Invoke,
  type ManagementCall,
  type VirtualConnectionOptions,
  type WsAuthorizer,
  type WsGateway,
  type WsGatewayOptions,
  type WsGatewayStats,
  type WsRoute,
  maxMessageBytes,
} from './ws-gateway/types';

const tenMinutes = 10 * 60_000;
const twoHours = 2 * 60 * 60_000;

export async function startWsGateway(opts: WsGatewayOptions): Promise<WsGateway> {
  const host = opts.host ?? '127.0.0.1';
  const limiter = opts.limits ? new Limiter(opts.limits) : undefined;
  const log = opts.log ?? ((line: string) => console.log(line));
  const stats = newStats();
  const events = new EventShapes();
  const connections = new Connections({
    routes: opts.routes,
    events,
    stats,
    log,
    idleTimeoutMs: opts.idleTimeoutMs ?? tenMinutes,
    maxLifetimeMs: opts.maxLifetimeMs ?? twoHours,
  });
  const virtuals = new VirtualConnections(stats, log, (id) => connections.get(id) !== undefined);
  const admission = new HandshakeAdmission({
    ratePerSecond: opts.connectRatePerSecond ?? 500,
    ...(opts.connectBurst !== undefined ? { burst: opts.connectBurst } : {}),
    maxInFlight: opts.maxConcurrentHandshakes ?? 32,
    maxQueued: 512,
    maxQueueWaitMs: 5_000,
  });
  let closing = false;

  const server = http.createServer({ noDelay: true, keepAlive: true });
  // Fan-out keeps one pool of sockets busy; closing idle ones early only costs reconnects and
  // ECONNRESET retries in the SDK.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const handshakes = new Handshakes({
    settings: opts,
    server,
    admission,
    connections,
    events,
    stats,
    log,
    closing: () => closing,
  });
  const management = new ManagementApi({
    connections,
    virtuals,
    limiter,
    onAnswer: opts.onManagementAnswer,
    stats,
    log,
  });
  server.on('upgrade', handshakes.onUpgrade);
  server.on('request', management.onRequest);

  // A deep accept queue (the kernel caps it at net.core.somaxconn): Node's default of 511 resets
  // connections of a wave that arrive while the event loop is busy, before admission can answer them.
  const port = await listen(server, opts.port, host, 'WS_PORT', 'WebSocket gateway', 4096);
  if (limiter !== undefined && opts.limits !== undefined)
    log(`ws: imitating AWS limits on @connections: ${describeLimits(opts.limits, limiter.seed)}`);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  events.domainName = authority;

  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    admission.refuseQueued();
    handshakes.destroyAll();
    await connections.closeAll();
    virtuals.clear();
    handshakes.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return {
    port,
    url: `ws://${authority}`,
    managementEndpoint: `http://${authority}`,
    connectionCount: () => connections.size,
    stats: () => ({ ...stats, connectionsOpen: connections.size, virtualConnectionsOpen: virtuals.size }),
    addVirtualConnections: (ids, vopts) => {
      if (closing) throw new Error('the gateway is closed');
      virtuals.add(ids, vopts);
    },
    removeVirtualConnections: (ids) => virtuals.remove(ids),
    virtualCount: () => virtuals.size,
    close,
  };
}
