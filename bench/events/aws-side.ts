// Child process: "AWS" for the events scenario — one management API with AWS's limits, the virtual viewers of several events (each its own id range and tracker), calls and 429s counted per event, and every event's reporter, so publishes and receipts share one clock.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AwsLimits } from '../../local/aws-limits';
import { startWsGateway, type WsGateway } from '../../local/ws-gateway';
import { serve } from '../lib/child';
import { Reporter } from '../lib/reporter';
import { summarize, type Summary } from '../lib/stats';
import { DeliveryTracker } from '../lib/tracker';
import { viewerId, viewerIds, viewerIndex } from '../simulated/viewers';
import { type Layout, layout, ownerOf } from './layout';

let gateway: WsGateway | undefined;
let plan: Layout | undefined;
/** Per viewer event, while a run lasts: the lead-in's tracker and the measured one (each ignores the other's seqs). */
let trackers: { lead: DeliveryTracker; measured: DeliveryTracker }[] = [];
let warm: DeliveryTracker | undefined;
let reporters: Reporter[] = [];
/** @connections calls answered and 429s, per viewer event; the last slot: calls to ids no viewer has (the reporters'). */
let calls: number[] = [];
let throttled: number[] = [];

export interface EventResult {
  viewers: number;
  /** Measured updates: (viewer, update) pairs never received, duplicates, reordered, delivered. */
  lost: number;
  duplicates: number;
  outOfOrder: number;
  delivered: number;
  messages: number;
  allDelivered: boolean;
  staleness: Summary;
  /** The lead-in's updates (the ledger settling, workers starting): staleness and pairs never received. */
  leadStaleness: Summary;
  leadLost: number;
  /** Last publish → this event's last receipt (ms). */
  drainMs: number;
}

export interface RunResult {
  events: EventResult[];
  /** Per viewer event, then the reporters' ids (last): calls answered and 429s, from the lead-in's start to the end. */
  calls: number[];
  throttled: number[];
  /** The same, from the first measured publish on (the lead-in's start-up left out). */
  measuredCalls: number[];
  measuredThrottled: number[];
  /** Per reporter (viewer events first): publish → ack, over the measured updates. */
  acks: { count: number; p50: number; p99: number; max: number }[];
  gateway: ReturnType<WsGateway['stats']>;
  cpuShare: number;
  lastPublishAt: number;
  /** Messages the viewers received (lead-in included) ÷ first publish → last receipt. */
  postsPerSecond: number;
}

serve({
  /** A fresh gateway (fresh token bucket and counters) with every event's virtual viewers and the warm-up event's. */
  async start(args: { limits: AwsLimits; audiences: number[]; warmViewers: number }) {
    await Promise.all(reporters.map((r) => r.close()));
    reporters = [];
    await gateway?.close();
    const l = (plan = layout(args.audiences, args.warmViewers));
    calls = new Array<number>(l.audiences.length + 1).fill(0);
    throttled = new Array<number>(l.audiences.length + 1).fill(0);
    gateway = await startWsGateway({
      port: 0,
      routes: new Map(),
      limits: args.limits,
      log: () => {},
      onManagementAnswer: (call, status) => {
        const owner = ownerOf(l, call.connectionId);
        if (owner === 'warm') return;
        const slot = owner ?? l.audiences.length;
        calls[slot]! += 1;
        if (status === 429) throttled[slot]! += 1;
      },
    });
    const total = l.warmFirst + l.warmViewers;
    gateway.addVirtualConnections(viewerIds(total), {
      onMessage: (id, data, at) => {
        const i = viewerIndex(id);
        const owner = ownerOf(l, id);
        if (owner === 'warm') warm?.receive(i - l.warmFirst, data, at);
        else if (owner !== undefined) {
          const t = trackers[owner];
          if (!t) return;
          const v = i - l.firsts[owner]!;
          t.lead.receive(v, data, at);
          t.measured.receive(v, data, at);
        }
      },
    });
    return { endpoint: gateway.managementEndpoint, firstWarmId: viewerId(l.warmFirst) };
  },

  /** The warm-up event: `updates` back to back; resolves once its viewers have them all (JITs of DynamoDB Local and the fresh worker processes). */
  async warmup(args: { url: string; updates: number; baseSeq: number; timeoutMs: number }) {
    if (!gateway || !plan) throw new Error('start first');
    const r = await Reporter.open(args.url);
    try {
      const t = (warm = new DeliveryTracker(plan.warmViewers, args.updates, args.baseSeq));
      await r.publishAll(t, `warmup-${Date.now().toString(36)}`, args.updates);
      const allDelivered = await t.allDelivered(performance.now() + args.timeoutMs);
      return { allDelivered, missed: t.result().missed };
    } finally {
      warm = undefined;
      await r.close();
    }
  },

  /** One reporter per event (viewer events first, in layout order, then the reporter-only ones). */
  async reporters(args: { urls: string[] }) {
    await Promise.all(reporters.map((r) => r.close()));
    reporters = await Promise.all(args.urls.map((u) => Reporter.open(u)));
  },

  /**
   * Every reporter publishes `lead + updates` at `perSecond`, each on its own schedule offset by
   * e / (events × perSecond) (reporters publishing together, not in lockstep); only the last
   * `updates` are measured. Resolves when every viewer of every event has every measured update,
   * or `drainTimeoutMs` after the last publish.
   */
  async run(args: {
    baseSeqs: number[];
    lead: number;
    updates: number;
    perSecond: number;
    quietFrom: number;
    quietEvery: number;
    drainTimeoutMs: number;
    runId: string;
  }) {
    if (!gateway || !plan) throw new Error('start first');
    if (args.baseSeqs.length !== reporters.length)
      throw new Error(`${reporters.length} reporters, ${args.baseSeqs.length} base seqs`);
    const l = plan;
    trackers = l.audiences.map((n, e) => ({
      lead: new DeliveryTracker(n, Math.max(1, args.lead), args.baseSeqs[e]!),
      measured: new DeliveryTracker(n, args.updates, args.baseSeqs[e]! + args.lead),
    }));
    calls.fill(0);
    throttled.fill(0);
    let atMeasured: { calls: number[]; throttled: number[] } | undefined;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const total = args.lead + args.updates;
    const period = 1000 / args.perSecond;
    const publishedAt: number[][] = reporters.map(() => []);
    await Promise.all(
      reporters.map(async (reporter, e) => {
        const t = trackers[e];
        const sink = {
          publishing(i: number, at: number) {
            publishedAt[e]![i] = at;
            if (!t) return;
            if (i < args.lead) t.lead.publishing(i, at);
            else t.measured.publishing(i - args.lead, at);
          },
        };
        const offset = (e * period) / reporters.length;
        for (let i = 0; i < total; i++) {
          // A reporter-only event publishes on every quietEvery-th slot only (see events.ts).
          if (e >= args.quietFrom && i % args.quietEvery !== 0) continue;
          const wait = t0 + offset + i * period - performance.now();
          if (wait > 0) await sleep(wait);
          if (i === args.lead && !atMeasured) atMeasured = { calls: [...calls], throttled: [...throttled] };
          reporter.publish(sink, `${args.runId}-${e}`, i);
        }
      }),
    );
    const lastPublishAt = performance.now();
    const deadline = lastPublishAt + args.drainTimeoutMs;
    const done = await Promise.all(trackers.map((t) => t.measured.allDelivered(deadline)));
    const used = process.cpuUsage(cpu);
    let messages = 0;
    let lastReceipt = t0;
    for (const t of trackers) {
      const m = t.measured.result();
      messages += m.messages;
      if (m.lastReceiptAt > lastReceipt) lastReceipt = m.lastReceiptAt;
    }
    const events = trackers.map((t, e): EventResult => {
      const m = t.measured.result();
      const lead = t.lead.result();
      return {
        viewers: m.viewers,
        lost: m.missed,
        duplicates: m.duplicates + lead.duplicates,
        outOfOrder: m.outOfOrder,
        delivered: m.delivered,
        messages: m.messages,
        allDelivered: done[e]!,
        staleness: summarize(m.latency),
        leadStaleness: summarize(lead.latency),
        leadLost: args.lead > 0 ? lead.missed : 0,
        drainMs: m.lastReceiptAt - m.lastPublishAt,
      };
    });
    const acks = reporters.map((r, e) => {
      const ms: number[] = [];
      for (let i = args.lead; i < total; i++) {
        const at = r.ackedAt[i];
        const sent = publishedAt[e]![i];
        if (at !== undefined && sent !== undefined) ms.push(at - sent);
      }
      ms.sort((a, b) => a - b);
      const q = (p: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]! : NaN);
      return { count: ms.length, p50: q(0.5), p99: q(0.99), max: ms.at(-1) ?? NaN };
    });
    const result: RunResult = {
      events,
      calls: [...calls],
      throttled: [...throttled],
      measuredCalls: calls.map((c, i) => c - (atMeasured?.calls[i] ?? 0)),
      measuredThrottled: throttled.map((t, i) => t - (atMeasured?.throttled[i] ?? 0)),
      acks,
      gateway: gateway.stats(),
      cpuShare: (used.user + used.system) / 1000 / (performance.now() - t0),
      lastPublishAt,
      postsPerSecond: messages / ((lastReceipt - t0) / 1000),
    };
    trackers = [];
    return result;
  },

  progress: () => ({
    complete: trackers.map((t) => t.measured.progress().complete),
    throttled: gateway?.stats().throttled ?? 0,
  }),

  async stop() {
    await Promise.all(reporters.map((r) => r.close()));
    reporters = [];
    await gateway?.close();
    gateway = undefined;
  },
});
