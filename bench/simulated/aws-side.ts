// Child process: "AWS" for the simulated scenario — the management API with AWS's limits and 10,000s of virtual viewers recording what they receive — plus the reporter, so publish and receipt share one clock.
import type { AwsLimits } from '../../local/aws-limits';
import { startWsGateway, type WsGateway } from '../../local/ws-gateway';
import { serve } from '../lib/child';
import { Reporter } from '../lib/reporter';
import { DeliveryTracker } from '../lib/tracker';
import { viewerIds, viewerIndex } from './viewers';

let gateway: WsGateway | undefined;
let tracker: DeliveryTracker | undefined;
let reporter: Reporter | undefined;
let viewers = 0;

serve({
  /** A fresh gateway (fresh token bucket and counters) with `viewers` virtual connections. */
  async start(args: { limits: AwsLimits; viewers: number }) {
    await reporter?.close();
    reporter = undefined;
    await gateway?.close();
    tracker = undefined;
    viewers = args.viewers;
    gateway = await startWsGateway({ port: 0, routes: new Map(), limits: args.limits, log: () => {} });
    gateway.addVirtualConnections(viewerIds(viewers), {
      onMessage: (id, data, at) => tracker?.receive(viewerIndex(id), data, at),
    });
    return { endpoint: gateway.managementEndpoint };
  },

  async reporter(args: { url: string }) {
    await reporter?.close();
    reporter = await Reporter.open(args.url);
  },

  /**
   * The warm-up round: a reporter on a small warm-up event (its rows are the first `viewers` ids)
   * publishes `updates` back to back; resolves once every one of those viewers has them all. Warms
   * DynamoDB Local's JIT and the fresh worker processes', so the measured run does not pay for it.
   */
  async warmup(args: { url: string; viewers: number; updates: number; baseSeq: number; timeoutMs: number }) {
    if (!gateway) throw new Error('start first');
    const warm = await Reporter.open(args.url);
    try {
      const t = (tracker = new DeliveryTracker(args.viewers, args.updates, args.baseSeq));
      await warm.publishAll(t, `warmup-${Date.now().toString(36)}`, args.updates);
      const allDelivered = await t.allDelivered(performance.now() + args.timeoutMs);
      return { allDelivered, missed: t.result().missed };
    } finally {
      tracker = undefined;
      await warm.close();
    }
  },

  /** Publishes `updates` at `perSecond`; resolves when every viewer has every update, or `drainTimeoutMs` after the last publish. */
  async run(args: { updates: number; baseSeq: number; runId: string; perSecond: number; drainTimeoutMs: number }) {
    if (!gateway || !reporter) throw new Error('start and reporter first');
    const t = (tracker = new DeliveryTracker(viewers, args.updates, args.baseSeq));
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await reporter.publishAll(t, args.runId, args.updates, args.perSecond);
    const allDelivered = await t.allDelivered(performance.now() + args.drainTimeoutMs);
    const used = process.cpuUsage(cpu);
    return {
      ...t.result(),
      allDelivered,
      gateway: gateway.stats(),
      cpuShare: (used.user + used.system) / 1000 / (performance.now() - t0),
    };
  },

  progress: () => ({ ...tracker?.progress(), gateway: gateway?.stats() }),

  async stop() {
    await reporter?.close();
    await gateway?.close();
    reporter = undefined;
    gateway = undefined;
  },
});
