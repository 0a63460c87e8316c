// Child process: the local management API (the stage's own gateway code) with virtual connections, as the sink every poster posts to.
import { serve } from '../lib/child';
import { startWsGateway, type WsGateway } from '../../local/ws-gateway';

let gateway: WsGateway | undefined;

serve({
  async start(args: { ids: string[]; latencyMs?: number }) {
    await gateway?.close();
    gateway = await startWsGateway({
      port: 0,
      routes: new Map(),
      log: () => {},
      ...(args.latencyMs ? { limits: { latencyMs: args.latencyMs } } : {}),
    });
    gateway.addVirtualConnections(args.ids);
    return { endpoint: gateway.managementEndpoint };
  },
  stats: () => gateway?.stats(),
  /** This process's CPU so far (µs): the server's side of every call. */
  cpu: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  async stop() {
    await gateway?.close();
  },
});
