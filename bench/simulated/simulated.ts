// Scenario "simulated": AWS's limits (25 ms a call, 10,000/s bucket, burst 5,000) on a management API in a child process with 10,000s of virtual viewers; the reporter at 3 updates/s; livecast's workers against the naive fan-out.
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AwsLimits } from '../../local/aws-limits';
import { tableNames } from '../../local/create-tables';
import type { Stage, StageOptions } from '../../local/stage';
import type { WsGatewayStats } from '../../local/ws-gateway';
import { type Child, startChild } from '../lib/child';
import { cpuSpan } from '../lib/cpu';
import { naiveFanout, type NaiveStats } from '../lib/naive-fanout';
import type { ScenarioReport, Target } from '../lib/report';
import { type BenchEvent, benchStage, createEvent, lastSeq, reporterUrl } from '../lib/stage';
import { summarize, type Summary } from '../lib/stats';
import type { Table } from '../lib/table';
import type { TrackerResult } from '../lib/tracker';
import { withoutConnectionsStream, writeViewerRows } from './viewers';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoEntryStore } from '../../shared/adapters/dynamo-entry-store';
import { defaultCountsCadence } from '../../shared/domain/delivery/cadence';
import { CONNECTION_SHARDS } from '../../shared/domain/sharding';
import { viewerMessages } from '../../scripts/lib/cost-model';

export interface SimulatedOptions {
  /** Audience sizes, each with the LIVECAST_DELIVERY_BUDGET values livecast runs with at that size. */
  sizes: { viewers: number; budgets: number[] }[];
  updates: number;
  perSecond: number;
  limits: AwsLimits;
  /** How long after the last publish livecast may take to bring everyone up to date, at least; 5 × N/B when that is longer. */
  minDrainMs: number;
  /** Run the naive fan-out too, and how long after the last publish it may go on before it is cut off. */
  naive: boolean;
  /**
   * The naive fan-out runs only up to this audience: past it one invocation's unbounded Promise.all
   * (~30 KB per pending SDK send) outgrows this process — at 100,000 viewers it held 3.8 GB and
   * starved the stage, so that even the reporter's writes timed out.
   */
  naiveMaxViewers: number;
  naiveDrainMs: number;
  naiveMaxPendingPosts: number;
  /** Extra configuration for the livecast stage (e.g. LIVECAST_WORKER_IN_FLIGHT). */
  env: Record<string, string>;
  /** Child processes the livecast stage runs its delivery workers in (0: the stage's own process). */
  workerProcesses: number;
  /** livecast paths: a stats line this often (as the repost tally writes them under a trickle), from the run's start… (0: none) */
  countsEveryMs: number;
  /** …to this long after every viewer has every update: the quiet tail where only counts are owed. */
  countsTailMs: number;
}

interface RunResult extends TrackerResult {
  allDelivered: boolean;
  gateway: WsGatewayStats;
  /** CPU of the child (gateway + viewers + reporter), in cores. */
  cpuShare: number;
}

export interface SimulatedRun {
  path: string;
  viewers: number;
  budget: number | undefined;
  /** N/B in seconds: a viewer can get at most B/N frames a second. */
  floorS: number | undefined;
  targetP99S: number | undefined;
  updates: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  staleness: Summary;
  throttled: number;
  /** Every @connections call the gateway answered: posts (delivered, 410, 429), gets, deletes. */
  calls: number;
  delivered: number;
  messages: number;
  /** Last publish → last receipt, when everyone got everything; else the bound it was cut at. */
  drainS: number;
  firstToLastS: number;
  allDelivered: boolean;
  /** Publishes the stage had committed when the run ended (the reporter sent `updates`). */
  committed: number;
  /** CPU in cores while the run lasted: this process (the stage, and the workers when they run in it), the workers' processes, and the AWS-side child. */
  stageCpu: number;
  workersCpu: number;
  dynamoCpu: number;
  awsSideCpu: number;
  postsPerSecond: number;
  setup?: { rowsMs: number; rowsPerSecond: number };
  /** Messages per viewer-hour, from the run's start to the end of the counts tail: with updates, counts only, all. */
  perViewerHour: { updates: number; counts: number; total: number; windowS: number };
  /** Messages per viewer over the window, counted and as the cost model has them at the posts/s reached (livecast paths). */
  perViewer?: { updates: number; counts: number; modelUpdates: number; modelCounts: number };
  naive?: NaiveStats;
  gateway: WsGatewayStats;
}

const callsOf = (g: WsGatewayStats) => g.postsOut + g.postsGone + g.postsTooLarge + g.throttled + g.gets + g.deletes;

interface RunSpec {
  path: string;
  viewers: number;
  budget: number | undefined;
  drainMs: number;
  stageOptions: Partial<StageOptions>;
  /** Runs after the reporter is done and delivery has ended or been cut off. */
  after?: () => Promise<void>;
  /** Write live counts during the run and its tail (opts.countsEveryMs, countsTailMs). */
  counts: boolean;
}

/** Set up once per size, reused by every path: the measured event and its rows, and the warm-up event. */
interface SharedSetup {
  event?: BenchEvent;
  warm?: BenchEvent;
  setup?: { rowsMs: number; rowsPerSecond: number };
}

/**
 * Before each measured run, a warm-up event with the first WARMUP_VIEWERS ids as its audience gets
 * WARMUP_UPDATES updates: every run starts fresh worker processes (and the first one a DynamoDB
 * Local whose JIT has not compiled its hot paths yet), which a cold run measured instead of the
 * fan-out. Small enough to cost a second even before the 100,000-viewer run.
 */
const WARMUP_VIEWERS = 1_000;
const WARMUP_UPDATES = 5;

async function oneRun(
  dynamoEndpoint: string,
  prefix: string,
  aws: Child,
  opts: SimulatedOptions,
  spec: RunSpec,
  shared: SharedSetup,
  log: (line: string) => void,
): Promise<SimulatedRun> {
  if (!shared.event) {
    // The audience is seated before any stage runs: the rows are written while no stream consumer
    // reads the Connections table (the measured stage starts its stream readers at LATEST), so the
    // setup is not a 100,000-viewer connect wave with its stats frames fanned out to every row
    // written so far. A connect wave's cost is the sockets scenario's business, not this one's.
    const setupStage = await benchStage(dynamoEndpoint, prefix);
    try {
      shared.event = await createEvent(setupStage, `bench simulated ${spec.viewers}`);
      shared.warm = await createEvent(setupStage, `bench simulated ${spec.viewers} warm-up`);
    } finally {
      await setupStage.stop();
    }
    log(`  simulated: writing ${spec.viewers.toLocaleString('en-US')} connection rows to DynamoDB Local…`);
    const tables = tableNames(prefix);
    const event = shared.event;
    const rows = await withoutConnectionsStream(dynamoEndpoint, tables, () =>
      writeViewerRows(dynamoEndpoint, tables, event.eventId, spec.viewers),
    );
    shared.setup = { rowsMs: rows.ms, rowsPerSecond: rows.rowsPerSecond };
    log(
      `  simulated: ${spec.viewers.toLocaleString('en-US')} rows in ${(rows.ms / 1000).toFixed(1)} s (${Math.round(rows.rowsPerSecond).toLocaleString('en-US')} rows/s)`,
    );
    const warm = shared.warm;
    await withoutConnectionsStream(dynamoEndpoint, tables, () =>
      writeViewerRows(dynamoEndpoint, tables, warm.eventId, WARMUP_VIEWERS),
    );
  }
  const { endpoint } = await aws.call<{ endpoint: string }>('start', { limits: opts.limits, viewers: spec.viewers });
  const stage: Stage = await benchStage(dynamoEndpoint, prefix, {
    ...spec.stageOptions,
    connectionsEndpoint: endpoint,
  });
  try {
    const event = shared.event;
    const warm = shared.warm!;
    const warmed = await aws.call<{ allDelivered: boolean; missed: number }>(
      'warmup',
      {
        url: reporterUrl(stage, warm),
        viewers: WARMUP_VIEWERS,
        updates: WARMUP_UPDATES,
        baseSeq: await lastSeq(stage, warm.eventId),
        timeoutMs: 60_000,
      },
      120_000,
    );
    if (!warmed.allDelivered)
      throw new Error(`${spec.path}: the warm-up round did not reach every viewer (${warmed.missed} pairs missing)`);
    const baseSeq = await lastSeq(stage, event.eventId);
    await aws.call('reporter', { url: reporterUrl(stage, event) });
    // Anything still in flight (the reporter's arrival) ends before the measured run starts.
    await stage.settled(300_000);

    log(
      `  simulated: ${spec.path}, ${spec.viewers.toLocaleString('en-US')} viewers: publishing ${opts.updates} updates at ${opts.perSecond}/s…`,
    );
    const progress = setInterval(() => {
      void aws
        .call<{ delivered?: number; complete?: number; gateway?: WsGatewayStats }>('progress', undefined, 5_000)
        .then(
          (p) =>
            log(
              `    … ${(p.delivered ?? 0).toLocaleString('en-US')} deliveries, ${(p.complete ?? 0).toLocaleString('en-US')} viewers complete, ${p.gateway?.throttled ?? 0} × 429`,
            ),
          () => {},
        );
    }, 10_000);
    const span = cpuSpan(stage.workerPids());
    const publishMs = ((opts.updates - 1) * 1000) / opts.perSecond;
    const counts =
      spec.counts && opts.countsEveryMs > 0 ? liveCounts(stage, event.eventId, opts.countsEveryMs) : undefined;
    const windowStart = performance.now();
    let run: RunResult;
    let tail = { messages: 0, countsOnly: 0 };
    try {
      run = await aws.call<RunResult>(
        'run',
        {
          updates: opts.updates,
          baseSeq,
          runId: `${spec.path}-${Date.now().toString(36)}`,
          perSecond: opts.perSecond,
          drainTimeoutMs: spec.drainMs,
        },
        publishMs + spec.drainMs + 60_000,
      );
      if (counts) {
        await sleep(opts.countsTailMs);
        const p = await aws.call<{ messages?: number; countsOnly?: number }>('progress', undefined, 5_000);
        tail = { messages: p.messages ?? run.messages, countsOnly: p.countsOnly ?? run.countsOnly };
      } else tail = { messages: run.messages, countsOnly: run.countsOnly };
    } finally {
      clearInterval(progress);
      await counts?.stop();
    }
    const windowS = (performance.now() - windowStart) / 1000;
    const perHour = (n: number) => n / spec.viewers / (windowS / 3600);
    const cpu = span();
    await spec.after?.();
    const committed = (await lastSeq(stage, event.eventId)) - baseSeq;

    const staleness = summarize(run.latency);
    const floorS = spec.budget === undefined ? undefined : spec.viewers / spec.budget;
    const drainS = run.allDelivered ? (run.lastReceiptAt - run.lastPublishAt) / 1000 : spec.drainMs / 1000;
    const result: SimulatedRun = {
      path: spec.path,
      viewers: spec.viewers,
      budget: spec.budget,
      floorS,
      targetP99S: floorS === undefined ? undefined : 1.5 * floorS + 1,
      updates: opts.updates,
      lost: run.missed,
      duplicates: run.duplicates,
      outOfOrder: run.outOfOrder,
      staleness,
      throttled: run.gateway.throttled,
      calls: callsOf(run.gateway),
      delivered: run.delivered,
      messages: run.messages,
      drainS,
      firstToLastS: (run.lastReceiptAt - run.firstPublishAt) / 1000,
      allDelivered: run.allDelivered,
      committed,
      stageCpu: cpu.self,
      workersCpu: cpu.workers,
      dynamoCpu: cpu.dynamo,
      awsSideCpu: run.cpuShare,
      postsPerSecond: run.messages / ((run.lastReceiptAt - run.firstPublishAt) / 1000),
      gateway: run.gateway,
      perViewerHour: {
        updates: perHour(tail.messages - tail.countsOnly),
        counts: perHour(tail.countsOnly),
        total: perHour(tail.messages),
        windowS,
      },
      ...(spec.counts && opts.countsEveryMs > 0
        ? {
            perViewer: modelled(
              opts,
              spec.viewers,
              windowS,
              run.messages / ((run.lastReceiptAt - run.firstPublishAt) / 1000),
              tail,
            ),
          }
        : {}),
      // the setup is reported once per size, on its first run (below)
    };
    log(
      `  simulated: ${spec.path}: lost ${result.lost.toLocaleString('en-US')}, p50 ${(staleness.p50 / 1000).toFixed(2)} s, p99 ${(staleness.p99 / 1000).toFixed(2)} s, ${result.throttled} × 429, ${result.calls.toLocaleString('en-US')} calls, drain ${drainS.toFixed(1)} s`,
    );
    return result;
  } finally {
    await stage.stop();
  }
}

export async function runSimulated(
  dynamoEndpoint: string,
  tag: string,
  opts: SimulatedOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const started = performance.now();
  const runs: SimulatedRun[] = [];
  // 100,000 virtual viewers and their bookkeeping fit easily; the headroom is for the gateway's queues under load.
  const aws = await startChild('bench/simulated/aws-side.ts', { execArgv: ['--max-old-space-size=4096'] });
  try {
    for (const { viewers: n, budgets } of opts.sizes) {
      const shared: SharedSetup = {};
      // One table set and one event per size: the rows are written once and every path reuses them.
      const prefix = `sim${n}${tag}`;
      for (const budget of budgets) {
        const drainMs = Math.max(opts.minDrainMs, (5 * n * 1000) / budget);
        runs.push(
          await oneRun(
            dynamoEndpoint,
            prefix,
            aws,
            opts,
            {
              path: `livecast B=${budget.toLocaleString('en-US')}`,
              viewers: n,
              budget,
              drainMs,
              counts: true,
              stageOptions: {
                workerProcesses: opts.workerProcesses,
                env: { LIVECAST_DELIVERY_BUDGET: String(budget), LIVECAST_WORKER_IDLE_MS: '3000', ...opts.env },
              },
            },
            shared,
            log,
          ),
        );
      }
      if (opts.naive && n > opts.naiveMaxViewers) {
        log(
          `  simulated: naive fan-out skipped at ${n.toLocaleString('en-US')} viewers (over --naive-max-viewers ${opts.naiveMaxViewers.toLocaleString('en-US')})`,
        );
      } else if (opts.naive) {
        const naive = naiveFanout({ maxPendingPosts: opts.naiveMaxPendingPosts });
        try {
          const r = await oneRun(
            dynamoEndpoint,
            prefix,
            aws,
            opts,
            {
              path: 'naive fan-out',
              viewers: n,
              budget: undefined,
              drainMs: opts.naiveDrainMs,
              // Every stats line to every viewer at once would only measure the naive fan-out's collapse.
              counts: false,
              stageOptions: { wake: (event: DynamoDBStreamEvent) => naive.invoke(event) },
              after: () => naive.abort(),
            },
            shared,
            log,
          );
          runs.push({ ...r, naive: naive.stats() });
        } finally {
          await naive.abort();
        }
      }
      if (shared.setup) runs.find((r) => r.viewers === n)!.setup = shared.setup;
    }
  } finally {
    await aws.stop();
  }

  const s = (ms: number) => (ms / 1000).toFixed(2);
  const table: Table = {
    title: `Simulated AWS: ${opts.limits.latencyMs} ms a call, bucket ${opts.limits.rate?.toLocaleString('en-US')}/s (burst ${opts.limits.burst?.toLocaleString('en-US')}); reporter ${opts.updates} updates at ${opts.perSecond}/s`,
    columns: [
      'path',
      'viewers',
      'committed',
      'floor N/B s',
      'lost',
      'dup/reordered',
      'p50 s',
      'p99 s',
      'max s',
      'p99 target s',
      '429s',
      'calls',
      'calls/viewer',
      'posts/s',
      'drain s',
      'msgs/viewer-hour updates/counts/total',
      'msgs/viewer counted vs model',
      'cores stage/workers/AWS/DDB',
      'setup s',
    ],
    rows: runs.map((r) => [
      r.path,
      r.viewers,
      `${r.committed}/${r.updates}`,
      r.floorS?.toFixed(2),
      r.lost,
      `${r.duplicates}/${r.outOfOrder}`,
      s(r.staleness.p50),
      s(r.staleness.p99),
      s(r.staleness.max),
      r.targetP99S?.toFixed(2),
      r.throttled,
      r.calls,
      (r.calls / r.viewers).toFixed(1),
      Math.round(r.postsPerSecond),
      r.allDelivered ? r.drainS.toFixed(1) : `cut at ${r.drainS.toFixed(0)}`,
      `${Math.round(r.perViewerHour.updates)}/${Math.round(r.perViewerHour.counts)}/${Math.round(r.perViewerHour.total)}`,
      r.perViewer
        ? `${r.perViewer.updates.toFixed(1)}+${r.perViewer.counts.toFixed(1)} vs ${r.perViewer.modelUpdates}+${r.perViewer.modelCounts}`
        : undefined,
      `${r.stageCpu.toFixed(2)}/${r.workersCpu.toFixed(2)}/${r.awsSideCpu.toFixed(2)}/${Number.isNaN(r.dynamoCpu) ? '?' : r.dynamoCpu.toFixed(2)}`,
      r.setup ? (r.setup.rowsMs / 1000).toFixed(1) : undefined,
    ]),
    notes: [
      `committed = publishes the stage had stored when the run ended; lost = (viewer, update) pairs never received; staleness = publish (reporter hands the frame to its socket) → the virtual viewer receives the post, on the clock of the child process that runs both; drain = last publish → last receipt. calls = every @connections call the gateway answered (posts delivered, 410s — the reporter's acks among them, its id being unknown to this gateway — and 429s). setup = writing the viewers' connection rows. msgs/viewer-hour: messages each viewer received per hour, with an update / with live counts only / all, from the run's start to ${opts.countsTailMs / 1000} s after the last viewer had every update; livecast paths get a stats line every ${opts.countsEveryMs / 1000} s meanwhile (a trickle of reposts), the naive fan-out none. msgs/viewer counted vs model: messages with an update + counts only per viewer over that window, and what the cost model (scripts/lib/cost-model.ts) says for the same timeline at the posts/s the run reached. A run of seconds at 3 updates/s is no ceremony: compare counts between runs and with \`npm run cost\`, not totals. cores: the stage process, the delivery workers' processes (${opts.workerProcesses || 'none: they ran in the stage process'}), the AWS-side child, DynamoDB Local.`,
    ],
  };
  const skipped = opts.naive ? opts.sizes.filter((s) => s.viewers > opts.naiveMaxViewers).map((s) => s.viewers) : [];
  if (skipped.length > 0) {
    table.notes!.push(
      `The naive fan-out was not run at ${skipped.map((n) => n.toLocaleString('en-US')).join(', ')} viewers: one invocation's unbounded Promise.all of that many SDK sends outgrows this process (see docs/performance.md); --naive-max-viewers raises the limit.`,
    );
  }
  const naiveRuns = runs.filter((r) => r.naive);
  const extra: Table[] = [];
  if (naiveRuns.length > 0) {
    extra.push({
      title: 'Naive fan-out: where its posts went',
      columns: [
        'viewers',
        'invocations',
        'queued by memory guard',
        'never started',
        'posts',
        'ok',
        '429',
        'cut off',
        'errors',
        'max pending',
        'posts/s',
        'stage CPU',
      ],
      rows: naiveRuns.map((r) => {
        const n = r.naive!;
        return [
          r.viewers,
          n.invocations,
          n.queued,
          n.notStarted,
          n.posts,
          n.ok,
          n.throttled,
          n.aborted,
          n.errors,
          n.maxPending,
          Math.round(r.postsPerSecond),
          `${r.stageCpu.toFixed(2)} cores`,
        ];
      }),
    });
  }
  // The target is stated for the account's 10,000/s; other budgets are shown, not judged.
  const targets: Target[] = runs
    .filter((r) => r.budget === 10_000)
    .map((r) => ({
      scenario: 'simulated',
      name: `${r.path}, ${r.viewers.toLocaleString('en-US')} viewers`,
      target: `0 lost, p99 ≤ 1.5 × N/B + 1 s = ${r.targetP99S!.toFixed(2)} s`,
      measured: `${r.lost} lost, p99 ${s(r.staleness.p99)} s`,
      met: r.lost === 0 && r.staleness.p99 / 1000 <= r.targetP99S!,
    }));
  return {
    name: 'simulated',
    tables: [table, ...extra],
    targets,
    data: { options: opts, runs },
    seconds: (performance.now() - started) / 1000,
  };
}

/** Stats lines (viewer count only, as the viewer-stats trigger writes them) appended to the event's change log every `everyMs`. */
function liveCounts(stage: Stage, eventId: string, everyMs: number): { stop(): Promise<void> } {
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: stage.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  const entries = new DynamoEntryStore(db, stage.tables);
  let writing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    writing = writing.then(() =>
      entries
        .appendFrame(eventId, () => ({ type: 'stats', eventId, viewers: 0, reposts: {}, at: new Date().toISOString() }))
        .catch(() => {}),
    );
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await writing;
      db.destroy();
    },
  };
}

/** The cost model's messages per viewer for this run's timeline, at the rate the workers reached (this machine's CPU, not the budget, set it). */
function modelled(
  opts: SimulatedOptions,
  viewers: number,
  windowS: number,
  postsPerSecond: number,
  counted: { messages: number; countsOnly: number },
) {
  const durationMs = windowS * 1000;
  const updates = Array.from({ length: opts.updates }, (_, i) => (i * 1000) / opts.perSecond);
  const stats = Array.from(
    { length: Math.floor(durationMs / opts.countsEveryMs) },
    (_, k) => (k + 1) * opts.countsEveryMs,
  );
  const m = viewerMessages(
    { updates, stats, durationMs },
    Math.ceil(viewers / CONNECTION_SHARDS),
    postsPerSecond / CONNECTION_SHARDS,
    defaultCountsCadence,
    durationMs,
  );
  return {
    updates: (counted.messages - counted.countsOnly) / viewers,
    counts: counted.countsOnly / viewers,
    modelUpdates: m.updateMessages,
    modelCounts: m.countMessages,
  };
}
