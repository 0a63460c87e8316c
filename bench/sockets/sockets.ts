// Scenario "sockets": real WebSocket viewers in a child process; the reporter publishes back to back; livecast against a bare `ws` broadcast (the machine's ceiling) and the naive fan-out, each through its own server.
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { cpus } from 'node:os';
import type { Stage } from '../../local/stage';
import { type Child, startChild } from '../lib/child';
import { type CpuShares, cpuSpan } from '../lib/cpu';
import { naiveFanout, type NaiveStats } from '../lib/naive-fanout';
import { ratio, type ScenarioReport, type Target } from '../lib/report';
import { benchStage, createEvent, lastSeq, reporterUrl, viewerUrl } from '../lib/stage';
import { summarize, type Summary } from '../lib/stats';
import type { Table } from '../lib/table';
import type { TrackerResult } from '../lib/tracker';
import { startBareServer } from './bare-server';

export interface SocketsOptions {
  viewers: number;
  updates: number;
  /** Handshakes in flight while the viewers connect. */
  connectConcurrency: number;
  /** How long a run may take from the first publish until every viewer has every update. */
  runTimeoutMs: number;
  /**
   * Updates published (and delivered to everyone) before the measured ones, on every path alike:
   * the JITs of Node and of DynamoDB Local's JVM compile the paths a run takes on its first pass
   * (measured: DynamoDB Local's compiler thread alone used 2.4 s of CPU in a cold run's 4 s).
   */
  warmupUpdates: number;
  /** LIVECAST_DELIVERY_BUDGET for this scenario: no AWS account budget applies to local sockets. */
  budget: number;
  /** Child processes the livecast stage runs its delivery workers in (0: the stage's own process). */
  workerProcesses: number;
  naive: boolean;
  naiveMaxPendingPosts: number;
}

interface RunResult extends TrackerResult {
  allDelivered: boolean;
  acks: number;
  ackMs: number[];
  lastAckMs: number;
  closedEarly: number;
  /** The clients child's CPU, in cores, while the run lasted. */
  cpuShare: number;
}

export interface PathResult {
  path: string;
  connected: number;
  connectMs: number;
  /** Update deliveries per second: (viewer, update) pairs received / (last receipt − first publish). */
  deliveriesPerSecond: number;
  wallMs: number;
  latency: Summary;
  delivered: number;
  missed: number;
  duplicates: number;
  outOfOrder: number;
  messages: number;
  updatesPerMessage: number;
  allDelivered: boolean;
  seqChecked: boolean | undefined;
  /** First publish → last ack: when the last update was durable (livecast and naive share the write path). */
  lastAckMs: number;
  /** Cores used while the run lasted: the server's process, DynamoDB Local, the clients' process. */
  cpu: CpuShares & { clients: number };
  /** Server-process CPU per message sent, µs. */
  serverUsPerMessage: number;
  server?: unknown;
  naive?: NaiveStats;
}

function pathResult(
  path: string,
  connect: { connected: number; ms: number },
  run: RunResult,
  cpu: CpuShares,
  seqChecked: boolean | undefined,
): PathResult {
  const wallMs = run.lastReceiptAt - run.firstPublishAt;
  return {
    path,
    connected: connect.connected,
    connectMs: connect.ms,
    deliveriesPerSecond: run.delivered > 0 ? (run.delivered / wallMs) * 1000 : 0,
    wallMs,
    latency: summarize(run.latency),
    delivered: run.delivered,
    missed: run.missed,
    duplicates: run.duplicates,
    outOfOrder: run.outOfOrder,
    messages: run.messages,
    updatesPerMessage: run.messages ? run.updatesReceived / run.messages : 0,
    allDelivered: run.allDelivered,
    seqChecked,
    lastAckMs: run.lastAckMs,
    cpu: { ...cpu, clients: run.cpuShare },
    serverUsPerMessage: run.messages ? ((cpu.self + cpu.workers) * cpu.wallS * 1e6) / run.messages : NaN,
  };
}

async function connectAll(clients: Child, url: string, opts: SocketsOptions, log: (l: string) => void) {
  const c = await clients.call<{ connected: number; failed: number; ms: number; errors: Record<string, number> }>(
    'connect',
    { url, count: opts.viewers, concurrency: opts.connectConcurrency, timeoutMs: 30_000 },
    600_000,
  );
  log(
    `  sockets: ${c.connected.toLocaleString('en-US')} viewers connected in ${(c.ms / 1000).toFixed(1)} s${c.failed ? `, ${c.failed} failed: ${JSON.stringify(c.errors)}` : ''}`,
  );
  if (c.connected === 0) throw new Error(`no viewer could connect: ${JSON.stringify(c.errors)}`);
  return c;
}

async function stagePath(
  name: string,
  clients: Child,
  stage: Stage,
  opts: SocketsOptions,
  log: (l: string) => void,
  after?: () => Promise<void>,
): Promise<PathResult> {
  const event = await createEvent(stage, `bench sockets ${name}`);
  const connect = await connectAll(clients, viewerUrl(stage, event.eventId), opts, log);
  await clients.call('reporter', { url: reporterUrl(stage, event) });
  await warmUp(clients, name, opts);
  const span = cpuSpan(stage.workerPids());
  const run = await clients.call<RunResult>(
    'run',
    { updates: opts.updates, baseSeq: opts.warmupUpdates, runId: name, timeoutMs: opts.runTimeoutMs },
    opts.runTimeoutMs + 60_000,
  );
  const cpu = span();
  await after?.();
  const seq = await lastSeq(stage, event.eventId);
  const closed = await clients.call<{ ms: number }>('close', undefined, 120_000);
  log(`  sockets: ${name}: viewers closed in ${(closed.ms / 1000).toFixed(1)} s`);
  return {
    ...pathResult(name, connect, run, cpu, seq === opts.warmupUpdates + opts.updates),
    server: stage.ws.stats(),
  };
}

/** The warm-up round: published and delivered to every viewer, not measured. */
async function warmUp(clients: Child, name: string, opts: SocketsOptions): Promise<void> {
  if (opts.warmupUpdates === 0) return;
  const run = await clients.call<RunResult>(
    'run',
    { updates: opts.warmupUpdates, baseSeq: 0, runId: `${name}-warmup`, timeoutMs: opts.runTimeoutMs },
    opts.runTimeoutMs + 60_000,
  );
  if (!run.allDelivered)
    throw new Error(`${name}: the warm-up round did not reach every viewer (${run.missed} pairs missing)`);
}

export async function runSockets(
  dynamoEndpoint: string,
  tag: string,
  opts: SocketsOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const started = performance.now();
  const clients = await startChild('bench/sockets/clients.ts');
  const results: PathResult[] = [];
  try {
    // (i) The ceiling: nothing between the reporter's frame and the broadcast but `ws`.
    {
      log('  sockets: bare ws broadcast');
      const bare = await startBareServer('bench-bare');
      try {
        const connect = await connectAll(clients, bare.url, opts, log);
        await clients.call('reporter', { url: bare.url });
        await warmUp(clients, 'bare', opts);
        const span = cpuSpan();
        const run = await clients.call<RunResult>(
          'run',
          { updates: opts.updates, baseSeq: opts.warmupUpdates, runId: 'bare', timeoutMs: opts.runTimeoutMs },
          opts.runTimeoutMs + 60_000,
        );
        const cpu = span();
        await clients.call('close', undefined, 120_000);
        results.push(pathResult('bare ws broadcast (ceiling)', connect, run, cpu, undefined));
      } finally {
        await bare.close();
      }
    }

    // livecast: the deployed handlers, the Changes stream, the wake-up trigger and 16 workers.
    {
      log(`  sockets: livecast (budget ${opts.budget.toLocaleString('en-US')}/s)`);
      const stage = await benchStage(dynamoEndpoint, `s1live${tag}`, {
        workerProcesses: opts.workerProcesses,
        env: { LIVECAST_DELIVERY_BUDGET: String(opts.budget), LIVECAST_WORKER_IDLE_MS: '2000' },
      });
      try {
        const r = await stagePath('livecast', clients, stage, opts, log);
        results.push({ ...r, server: { ...(r.server as object), lambda: stage.lambda.stats() } });
      } finally {
        await stage.stop();
      }
    }

    // (ii) The naive fan-out, on the same stage code, replacing only the wake-up trigger.
    if (opts.naive) {
      log('  sockets: naive fan-out (Scan + Promise.all of SDK posts)');
      const naive = naiveFanout({ maxPendingPosts: opts.naiveMaxPendingPosts });
      const stage = await benchStage(dynamoEndpoint, `s1naive${tag}`, {
        wake: (event: DynamoDBStreamEvent) => naive.invoke(event),
      });
      try {
        const r = await stagePath('naive', clients, stage, opts, log, async () => {
          if (!(await naive.idle(performance.now() + 1_000))) await naive.abort();
        });
        results.push({ ...r, path: 'naive fan-out (AWS sample)', naive: naive.stats() });
      } finally {
        await naive.abort();
        await stage.stop();
      }
    }
  } finally {
    await clients.stop();
  }

  const bare = results[0]!;
  const live = results.find((r) => r.path === 'livecast');
  const table: Table = {
    title: `Real sockets: ${opts.viewers.toLocaleString('en-US')} WebSocket viewers, ${opts.updates} updates published back to back`,
    columns: [
      'path',
      'viewers',
      'delivered',
      'missed',
      'messages',
      'updates/msg',
      'deliveries/s',
      '× bare',
      'p50 ms',
      'p99 ms',
      'max ms',
      'last ack ms',
      'last receipt ms',
    ],
    rows: results.map((r) => [
      r.path,
      r.connected,
      r.delivered,
      r.missed,
      r.messages,
      r.updatesPerMessage.toFixed(2),
      Math.round(r.deliveriesPerSecond),
      ratio(r.deliveriesPerSecond, bare.deliveriesPerSecond).toFixed(2),
      r.latency.p50.toFixed(1),
      r.latency.p99.toFixed(1),
      r.latency.max.toFixed(1),
      Number.isNaN(r.lastAckMs) ? undefined : Math.round(r.lastAckMs),
      Math.round(r.wallMs),
    ]),
    notes: [
      `deliveries/s = (viewer, update) pairs received ÷ (last receipt − first publish); latency = publish (reporter hands the frame to its socket) → receipt, both on the clock of the one child process that runs the reporter and the viewers. livecast runs with LIVECAST_DELIVERY_BUDGET=${opts.budget.toLocaleString('en-US')} (no AWS account budget applies here).`,
    ],
  };
  const cpuTable: Table = {
    title: `Real sockets: where the CPU went while each run lasted (cores; this machine has ${cpus().length})`,
    columns: [
      'path',
      'server process',
      'worker processes',
      'DynamoDB Local',
      'clients process',
      'messages sent',
      'server+workers CPU µs/message',
    ],
    rows: results.map((r) => [
      r.path,
      r.cpu.self.toFixed(2),
      r.cpu.workers ? r.cpu.workers.toFixed(2) : undefined,
      Number.isNaN(r.cpu.dynamo) ? undefined : r.cpu.dynamo.toFixed(2),
      r.cpu.clients.toFixed(2),
      r.messages,
      Math.round(r.serverUsPerMessage),
    ]),
    notes: [
      `server process: the bare ws server, or the local stage (gateway, handlers, stream source, management API${opts.workerProcesses ? '' : ', workers'}) with its DynamoDB SDK clients. worker processes: ${opts.workerProcesses ? `the ${opts.workerProcesses} child processes the stage runs its delivery workers in, as AWS runs each invocation apart` : 'none (--worker-processes 0: the workers ran in the server process)'}.`,
    ],
  };
  const targets: Target[] = [];
  if (live) {
    const x = ratio(live.deliveriesPerSecond, bare.deliveriesPerSecond);
    targets.push({
      scenario: 'sockets',
      name: 'livecast deliveries/s vs bare ws broadcast',
      target: '≥ 0.5× bare, nothing missed',
      measured: `${x.toFixed(2)}× (${Math.round(live.deliveriesPerSecond).toLocaleString('en-US')} vs ${Math.round(bare.deliveriesPerSecond).toLocaleString('en-US')}/s), missed ${live.missed}`,
      met: x >= 0.5 && live.missed === 0,
    });
  }
  return {
    name: 'sockets',
    tables: [table, cpuTable],
    targets,
    data: { options: opts, paths: results },
    seconds: (performance.now() - started) / 1000,
  };
}
