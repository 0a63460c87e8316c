// Scenario "abuse": what flooding anonymous sockets do to honest viewers. One stage under AWS's
// @connections limits scaled down (1/25: 400 calls/s, burst 200), one run, two phases side by side —
// A: honest viewers and a reporter at a steady pace; B: the same plus flooders sending
// `sync {since: 0}`, `ping` and `repost` as fast as their sockets allow — each on a fresh event with
// a long history. Reports the honest viewers' publish → receipt latency and what they missed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AwsLimits } from '../../local/aws-limits';
import type { Stage } from '../../local/stage';
import type { WsGatewayStats } from '../../local/ws-gateway';
import { type Child, startChild } from '../lib/child';
import { cpuSpan, type CpuShares } from '../lib/cpu';
import type { ScenarioReport, Target } from '../lib/report';
import { type BenchEvent, benchStage, createEvent, lastSeq, reporterUrl, viewerUrl } from '../lib/stage';
import { summarize, type Summary } from '../lib/stats';
import type { Table } from '../lib/table';
import type { TrackerResult } from '../lib/tracker';
import type { FloodCounters } from './flooders';

export interface AbuseOptions {
  /** Honest viewers: real sockets that only listen. */
  honest: number;
  /** Updates the reporter publishes in each phase, at `perSecond`. */
  updates: number;
  perSecond: number;
  /** Flooding anonymous sockets in phase B. */
  flooders: number;
  /** AWS's account @connections limits divided by this (and the delivery budget with them). */
  scale: number;
  /** Entries in each event's history, of `historyChars` Chinese characters each. */
  history: number;
  historyChars: number;
  /** Unanswered frames a flooder keeps in flight. */
  inFlight: number;
  /** An update a viewer has not received this long after the last publish is missed. */
  drainMs: number;
  /** Phase B: how long the flood runs before the first measured publish. */
  rampMs: number;
  /** Updates published (and delivered) before each phase's measured ones, not measured. */
  warmupUpdates: number;
  workerProcesses: number;
}

/** AWS's numbers for an account: 10,000 @connections calls/s, burst 5,000, ~25 ms a call. */
const AWS_RATE = 10_000;
const AWS_BURST = 5_000;
const LATENCY_MS = 25;
/** The product's default LIVECAST_DELIVERY_BUDGET against that account (docs/local-stage.md). */
const PRODUCT_BUDGET = 7_000;
/** The product's default LIVECAST_SYNC_POSTS_PER_ADDRESS (a minute), scaled with the account like the budget. */
const PRODUCT_SYNC_POSTS_PER_ADDRESS = 6_000;
/** The flooders come from one hostile host; the honest viewers from 127.0.0.1 (the whole 127/8 is loopback on Linux). */
const FLOOD_ADDRESS = '127.0.0.2';

interface HonestRun extends TrackerResult {
  allDelivered: boolean;
  acks: number;
  ackMs: number[];
  closedEarly: number;
}

export interface AbusePhase {
  phase: 'A' | 'B';
  label: string;
  viewers: number;
  updates: number;
  /** Measured publishes the event committed (must equal `updates`, or seqs were misattributed). */
  committed: number;
  latency: Summary;
  ackP99Ms: number;
  missed: number;
  duplicates: number;
  outOfOrder: number;
  closedEarly: number;
  /** Gateway counters over the measured window (first publish → everyone has everything, or the bound). */
  gateway: {
    postsOut: number;
    throttled: number;
    postsGone: number;
    handshakesThrottled: number;
    connectionsAccepted: number;
    messagesIn: number;
  };
  flood: FloodCounters | undefined;
  cpu: CpuShares;
  windowS: number;
}

const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '—');
const n = (v: number) => v.toLocaleString('en-US');

function gatewayDelta(a: WsGatewayStats, b: WsGatewayStats): AbusePhase['gateway'] {
  return {
    postsOut: b.postsOut - a.postsOut,
    throttled: b.throttled - a.throttled,
    postsGone: b.postsGone - a.postsGone,
    handshakesThrottled: b.handshakesThrottled - a.handshakesThrottled,
    connectionsAccepted: b.connectionsAccepted - a.connectionsAccepted,
    messagesIn: b.messagesIn - a.messagesIn,
  };
}

function floodDelta(a: FloodCounters, b: FloodCounters): FloodCounters {
  const sub = (x: Record<string, number>, y: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.keys(y)
        .map((k): [string, number] => [k, (y[k] ?? 0) - (x[k] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
  return {
    sent: { sync: b.sent.sync - a.sent.sync, ping: b.sent.ping - a.sent.ping, repost: b.sent.repost - a.sent.repost },
    answered: b.answered - a.answered,
    rateLimited: b.rateLimited - a.rateLimited,
    errors: sub(a.errors, b.errors),
    opened: b.opened - a.opened,
    closedByServer: b.closedByServer - a.closedByServer,
    refused: sub(a.refused, b.refused),
    stalls: b.stalls - a.stalls,
    messages: b.messages - a.messages,
    bytes: b.bytes - a.bytes,
  };
}

const floodSent = (f: FloodCounters) => f.sent.sync + f.sent.ping + f.sent.repost;

export async function runAbuse(
  dynamoEndpoint: string,
  tag: string,
  opts: AbuseOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const started = performance.now();
  const limits: AwsLimits = {
    latencyMs: LATENCY_MS,
    rate: AWS_RATE / opts.scale,
    burst: AWS_BURST / opts.scale,
    seed: 20_261_111,
  };
  const budget = Math.round(PRODUCT_BUDGET / opts.scale);
  const honest: Child = await startChild('bench/abuse/honest.ts');
  const flood: Child = await startChild('bench/abuse/flooders.ts');
  // Handshake admission stays as AWS's (500/s): the flooders reconnect at a pace it admits (see
  // flooders.ts), so phase B measures delivery, not refused handshakes.
  const stage: Stage = await benchStage(dynamoEndpoint, `ab${tag}`, {
    limits,
    workerProcesses: opts.workerProcesses,
    // Workers let go soon after a phase, so the next one starts from a quiet stage.
    env: {
      LIVECAST_DELIVERY_BUDGET: String(budget),
      LIVECAST_SYNC_POSTS_PER_ADDRESS: String(Math.round(PRODUCT_SYNC_POSTS_PER_ADDRESS / opts.scale)),
      LIVECAST_WORKER_IDLE_MS: '2000',
    },
  });
  try {
    log(
      `  abuse: @connections at 1/${opts.scale} of AWS's: ${n(limits.rate!)} calls/s, burst ${n(limits.burst!)}, ${LATENCY_MS} ms a call; delivery budget ${n(budget)}/s`,
    );
    // Both events and their histories first, so the phases run back to back on the same stage.
    const events: Record<'A' | 'B', BenchEvent> = {
      A: await createEvent(stage, 'bench abuse — phase A (no flood)'),
      B: await createEvent(stage, 'bench abuse — phase B (flood)'),
    };
    for (const phase of ['A', 'B'] as const) {
      const h = await honest.call<{ acked: number; refused: number; ms: number }>(
        'history',
        { url: reporterUrl(stage, events[phase]), count: opts.history, chars: opts.historyChars, timeoutMs: 300_000 },
        330_000,
      );
      if (h.acked !== opts.history)
        throw new Error(
          `history of phase ${phase}: ${h.acked} of ${opts.history} publishes acked (${h.refused} refused)`,
        );
      log(
        `  abuse: event ${phase}: ${n(opts.history)} entries of ${n(opts.historyChars)} characters in ${(h.ms / 1000).toFixed(1)} s`,
      );
    }
    await stage.settled(60_000);

    const runPhase = async (phase: 'A' | 'B'): Promise<AbusePhase> => {
      const event = events[phase];
      const flooding = phase === 'B';
      const label = flooding ? `B: honest + ${opts.flooders} flooders` : 'A: honest only';
      const c = await honest.call<{ connected: number; ms: number; errors: Record<string, number> }>(
        'connect',
        { url: viewerUrl(stage, event.eventId), count: opts.honest, concurrency: 10, timeoutMs: 30_000 },
        300_000,
      );
      if (c.connected !== opts.honest)
        throw new Error(
          `phase ${phase}: ${c.connected} of ${opts.honest} viewers connected (${JSON.stringify(c.errors)})`,
        );
      await honest.call('reporter', { url: reporterUrl(stage, event) });
      // Warm-up: the first deliveries to new connections (and, in A, the JITs' first pass over the
      // delivery path) are not what this compares.
      const runTimeout = ((opts.warmupUpdates + opts.updates) / opts.perSecond) * 1000 + opts.drainMs + 60_000;
      const warm = await honest.call<HonestRun>(
        'run',
        {
          updates: opts.warmupUpdates,
          perSecond: opts.perSecond,
          baseSeq: opts.history,
          runId: `${phase}-warm`,
          drainMs: opts.drainMs,
        },
        runTimeout,
      );
      log(
        `  abuse: phase ${phase}: ${c.connected} viewers; warm-up ${warm.allDelivered ? 'delivered' : `missed ${warm.missed}`}`,
      );

      if (flooding) {
        await flood.call('start', {
          url: viewerUrl(stage, event.eventId),
          sockets: opts.flooders,
          inFlight: opts.inFlight,
          seqMax: opts.history,
          localAddress: FLOOD_ADDRESS,
        });
        log(
          `  abuse: phase ${phase}: ${opts.flooders} flooders for ${(opts.rampMs / 1000).toFixed(0)} s before the first publish…`,
        );
        await sleep(opts.rampMs);
      }
      const flood0 = flooding ? await flood.call<FloodCounters>('counters') : undefined;
      const g0 = stage.ws.stats();
      const span = cpuSpan(stage.workerPids());
      const t0 = performance.now();
      const baseSeq = opts.history + opts.warmupUpdates;
      const r = await honest.call<HonestRun>(
        'run',
        { updates: opts.updates, perSecond: opts.perSecond, baseSeq, runId: phase, drainMs: opts.drainMs },
        runTimeout,
      );
      const windowS = (performance.now() - t0) / 1000;
      const cpu = span();
      const g1 = stage.ws.stats();
      const floodEnd = flooding ? await flood.call<FloodCounters>('stop', undefined, 60_000) : undefined;
      await honest.call('close', undefined, 60_000);
      const committed = (await lastSeq(stage, event.eventId)) - baseSeq;
      const latency = summarize(r.latency);
      const acks = r.ackMs.filter(Number.isFinite).sort((a, b) => a - b);
      const ackP99Ms = acks.length ? acks[Math.min(acks.length - 1, Math.ceil(0.99 * acks.length) - 1)]! : NaN;
      const result: AbusePhase = {
        phase,
        label,
        viewers: r.viewers,
        updates: r.updates,
        committed,
        latency,
        ackP99Ms,
        missed: r.missed,
        duplicates: r.duplicates,
        outOfOrder: r.outOfOrder,
        closedEarly: r.closedEarly,
        gateway: gatewayDelta(g0, g1),
        flood: flood0 && floodEnd ? floodDelta(flood0, floodEnd) : undefined,
        cpu,
        windowS,
      };
      log(
        `  abuse: phase ${phase}: p50 ${s(latency.p50)} s, p99 ${s(latency.p99)} s, missed ${n(r.missed)}` +
          (result.flood
            ? `; flood sent ${n(floodSent(result.flood))}, ${n(result.flood.rateLimited)} rate_limited, ${n(result.flood.closedByServer)} closed`
            : ''),
      );
      // The next phase starts from a quiet stage: this one's workers done.
      await stage
        .settled(60_000)
        .catch(() => log(`  abuse: phase ${phase}: delivery still running 60 s after the phase`));
      return result;
    };

    // A first: B leaves the stage dirty (flooders' closed connections still unwinding, rate-limit
    // windows, repost counts), which must not land in the baseline; a fresh event per phase so both
    // start alike — same history, new viewers, no cursors or counts left by the other.
    const a = await runPhase('A');
    const b = await runPhase('B');
    const phases = [a, b];

    const row = (p: AbusePhase) => [
      p.label,
      p.viewers,
      p.committed === p.updates ? p.updates : `${p.updates} (${p.committed} committed)`,
      s(p.latency.p50),
      s(p.latency.p99),
      s(p.latency.max),
      p.missed,
      p.flood ? floodSent(p.flood) : '—',
      p.flood ? p.flood.rateLimited : '—',
      p.flood ? p.flood.closedByServer : '—',
      p.gateway.postsOut,
      p.gateway.throttled,
      s(p.ackP99Ms),
    ];
    const boundS = 1.5 * (a.latency.p99 / 1000) + 0.5;
    const missedAll = a.missed + b.missed;
    const seqsRight = a.committed === a.updates && b.committed === b.updates;
    const met = missedAll === 0 && seqsRight && b.latency.p99 / 1000 <= boundS;
    const f = b.flood;
    const table: Table = {
      title: `Abuse: ${opts.honest} honest viewers, ${opts.updates} updates at ${opts.perSecond}/s, ${opts.flooders} flooders; @connections at 1/${opts.scale} of AWS's (${n(limits.rate!)}/s, burst ${n(limits.burst!)}, ${LATENCY_MS} ms)`,
      columns: [
        'phase',
        'honest viewers',
        'updates',
        'p50 s',
        'p99 s',
        'max s',
        'missed',
        'flood frames sent',
        'answered rate_limited',
        'flood conns closed',
        '@connections posts',
        '429s',
        'ack p99 s',
      ],
      rows: [
        ...phases.map(row),
        ['target', '', '', '', `≤ ${boundS.toFixed(2)}`, '', '0', '', '', '', '', '', met ? 'met: yes' : 'met: NO'],
      ],
      notes: [
        `latency: publish frame handed to the reporter's socket → the update's receipt by an honest viewer, one clock (both in one child process); missed: (viewer, update) pairs not received ${s(opts.drainMs)} s after the last publish. ` +
          `Each phase: a fresh event with ${n(opts.history)} entries of ${n(opts.historyChars)} Chinese characters, ${opts.warmupUpdates} warm-up updates first (not measured). ` +
          `@connections posts / 429s: the gateway's posts delivered to a socket / answered 429 while the phase was measured (delivery, sync replies, everyone's). ack p99: publish → ack.`,
        f
          ? `flood (phase B, while measured): ${n(f.sent.sync)} sync, ${n(f.sent.ping)} ping, ${n(f.sent.repost)} repost sent; ${n(f.answered)} answered (${n(f.rateLimited)} rate_limited${Object.keys(f.errors).length ? `, other errors ${JSON.stringify(f.errors)}` : ''}); ` +
            `${n(f.opened)} connections opened, ${n(f.closedByServer)} closed by the server, handshakes refused ${JSON.stringify(f.refused)}; ${n(f.messages)} messages (${(f.bytes / 2 ** 20).toFixed(1)} MiB) received; ${f.stalls} stalls. Flooders from ${FLOOD_ADDRESS}, ${opts.inFlight} frames in flight each, ${(opts.rampMs / 1000).toFixed(0)} s of flood before the first publish.`
          : '',
        `CPU (cores of the machine) A / B: stage ${a.cpu.self.toFixed(2)} / ${b.cpu.self.toFixed(2)}, workers ${a.cpu.workers.toFixed(2)} / ${b.cpu.workers.toFixed(2)}, DynamoDB Local ${a.cpu.dynamo.toFixed(2)} / ${b.cpu.dynamo.toFixed(2)}.`,
      ].filter((line) => line !== ''),
    };
    const targets: Target[] = [
      {
        scenario: 'abuse',
        name: `honest viewers under ${opts.flooders} flooders (1/${opts.scale} limits)`,
        target: 'missed 0, p99(B) ≤ 1.5 × p99(A) + 0.5 s',
        measured: `missed ${a.missed}/${b.missed}, p99 ${s(a.latency.p99)} → ${s(b.latency.p99)} s (bound ${boundS.toFixed(2)} s)${seqsRight ? '' : ', publishes not all committed'}`,
        met,
      },
    ];
    return {
      name: 'abuse',
      tables: [table],
      targets,
      data: { options: opts, limits, budget, phases },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await flood.call('stop', undefined, 30_000).catch(() => {});
    await stage.stop();
    await flood.stop();
    await honest.stop();
  }
}
