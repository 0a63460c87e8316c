// Scenario "events": several events at once under AWS's simulated limits (25 ms a call, one account bucket), every reporter publishing together; the budget ledger against today's fixed B ÷ 16 per worker, side by side.
import type { AwsLimits } from '../../local/aws-limits';
import { tableNames } from '../../local/create-tables';
import type { Stage } from '../../local/stage';
import type { WsGatewayStats } from '../../local/ws-gateway';
import { type Child, startChild } from '../lib/child';
import { cpuSpan } from '../lib/cpu';
import type { ScenarioReport, Target } from '../lib/report';
import { type BenchEvent, benchStage, createEvent, lastSeq, reporterUrl } from '../lib/stage';
import type { Table } from '../lib/table';
import { withoutConnectionsStream, writeViewerRows } from '../simulated/viewers';
import type { RunResult } from './aws-side';
import { layout } from './layout';

export interface EventsOptions {
  /** Viewers of each event that has an audience. */
  audiences: number[];
  /** Events with only a reporter. */
  reporterOnly: number;
  /** Updates each reporter publishes before the measured ones (workers start, the ledger settles), and measured ones. */
  leadUpdates: number;
  updates: number;
  perSecond: number;
  /**
   * A reporter-only event publishes on every quietEvery-th slot of the schedule (0.3/s at 3/s and
   * 10). Every reporter at 3/s (72 publishes/s with 24 events) is more than DynamoDB Local's one
   * thread commits: acks took ~20 s and delivery measured that queue, not the budget.
   */
  quietEvery: number;
  /** AWS's @connections limits; the delivery budget B is the bucket's rate. */
  limits: AwsLimits & { rate: number };
  /** How long after the last publish delivery may take, at least; 5 × ΣN/B when that is longer. */
  minDrainMs: number;
  workerProcesses: number;
  /** LIVECAST_WORKER_IDLE_MS for the stage (the product's 10 s by default). */
  workerIdleMs: number;
  warmViewers: number;
  warmUpdates: number;
}

const VARIANTS = [
  { path: 'ledger', env: { LIVECAST_BUDGET_LEDGER: 'on' }, what: 'budget ledger: B shared by rows' },
  { path: 'fixed B/16', env: { LIVECAST_BUDGET_LEDGER: 'off' }, what: "today's: each worker at B ÷ 16" },
] as const;

export interface VariantRun {
  path: string;
  run: RunResult;
  committed: number[];
  published: number;
  cpu: { stage: number; workers: number; dynamo: number; awsSide: number };
  seconds: number;
}

const s2 = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '—');
const pct = (a: number, b: number) => (b === 0 ? '—' : `${((100 * a) / b).toFixed(2)}%`);
const callsOf = (g: WsGatewayStats) => g.postsOut + g.postsGone + g.postsTooLarge + g.throttled + g.gets + g.deletes;

export async function runEvents(
  dynamoEndpoint: string,
  tag: string,
  opts: EventsOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const started = performance.now();
  const budget = opts.limits.rate;
  const sigmaN = opts.audiences.reduce((a, b) => a + b, 0);
  const floorS = sigmaN / budget;
  const targetS = 1.5 * floorS + 1;
  const prefix = `evs${tag}`;
  const tables = tableNames(prefix);
  const plan = layout(opts.audiences, opts.warmViewers);

  // Events and rows once, for both variants (as the simulated scenario does): no stream reader
  // sees the seating, which stands for viewers who connected long before.
  const setupStage = await benchStage(dynamoEndpoint, prefix);
  let viewerEvents: BenchEvent[];
  let quietEvents: BenchEvent[];
  let warmEvent: BenchEvent;
  try {
    viewerEvents = [];
    for (const n of opts.audiences) viewerEvents.push(await createEvent(setupStage, `bench events: ${n} viewers`));
    quietEvents = [];
    for (let i = 0; i < opts.reporterOnly; i++)
      quietEvents.push(await createEvent(setupStage, `bench events: reporter only ${i + 1}`));
    warmEvent = await createEvent(setupStage, 'bench events: warm-up');
  } finally {
    await setupStage.stop();
  }
  const setupT0 = performance.now();
  log(
    `  events: writing ${(sigmaN + opts.warmViewers).toLocaleString('en-US')} connection rows for ${opts.audiences.length + 1} events…`,
  );
  await withoutConnectionsStream(dynamoEndpoint, tables, async () => {
    for (const [e, n] of opts.audiences.entries())
      await writeViewerRows(dynamoEndpoint, tables, viewerEvents[e]!.eventId, n, 32, plan.firsts[e]);
    await writeViewerRows(dynamoEndpoint, tables, warmEvent.eventId, opts.warmViewers, 32, plan.warmFirst);
  });
  const setupS = (performance.now() - setupT0) / 1000;
  const allEvents = [...viewerEvents, ...quietEvents];
  const drainMs = Math.max(opts.minDrainMs, 5 * floorS * 1000);

  const runs: VariantRun[] = [];
  const aws: Child = await startChild('bench/events/aws-side.ts', { execArgv: ['--max-old-space-size=2048'] });
  try {
    for (const variant of VARIANTS) {
      const t0 = performance.now();
      const { endpoint } = await aws.call<{ endpoint: string }>('start', {
        limits: opts.limits,
        audiences: opts.audiences,
        warmViewers: opts.warmViewers,
      });
      const stage: Stage = await benchStage(dynamoEndpoint, prefix, {
        connectionsEndpoint: endpoint,
        workerProcesses: opts.workerProcesses,
        env: {
          LIVECAST_DELIVERY_BUDGET: String(budget),
          LIVECAST_WORKER_IDLE_MS: String(opts.workerIdleMs),
          ...variant.env,
        },
      });
      try {
        const warmed = await aws.call<{ allDelivered: boolean; missed: number }>(
          'warmup',
          {
            url: reporterUrl(stage, warmEvent),
            updates: opts.warmUpdates,
            baseSeq: await lastSeq(stage, warmEvent.eventId),
            timeoutMs: 60_000,
          },
          120_000,
        );
        if (!warmed.allDelivered)
          throw new Error(
            `${variant.path}: the warm-up round did not reach every viewer (${warmed.missed} pairs missing)`,
          );
        await aws.call('reporters', { urls: allEvents.map((ev) => reporterUrl(stage, ev)) });
        // The warm-up's workers end (and leave the ledger) before the measured run: it starts with none.
        await stage.settled(300_000);
        const baseSeqs = await Promise.all(allEvents.map((ev) => lastSeq(stage, ev.eventId)));
        log(
          `  events: ${variant.path}: ${allEvents.length} reporters × ${opts.leadUpdates} + ${opts.updates} updates at ${opts.perSecond}/s, ${opts.audiences.map((n) => n.toLocaleString('en-US')).join(' + ')} viewers…`,
        );
        const progress = setInterval(() => {
          void aws.call<{ complete: number[]; throttled: number }>('progress', undefined, 5_000).then(
            (p) =>
              log(
                `    … viewers complete ${p.complete.map((c, e) => `${c}/${opts.audiences[e]}`).join(', ')}; ${p.throttled} × 429`,
              ),
            () => {},
          );
        }, 10_000);
        const span = cpuSpan(stage.workerPids());
        const publishMs = ((opts.leadUpdates + opts.updates) * 1000) / opts.perSecond;
        let run: RunResult;
        try {
          run = await aws.call<RunResult>(
            'run',
            {
              baseSeqs,
              lead: opts.leadUpdates,
              updates: opts.updates,
              perSecond: opts.perSecond,
              quietFrom: opts.audiences.length,
              quietEvery: opts.quietEvery,
              drainTimeoutMs: drainMs,
              runId: `${variant.path.replace(/\W+/g, '')}-${Date.now().toString(36)}`,
            },
            publishMs + drainMs + 60_000,
          );
        } finally {
          clearInterval(progress);
        }
        const cpu = span();
        const committed = (await Promise.all(allEvents.map((ev) => lastSeq(stage, ev.eventId)))).map(
          (seq, e) => seq - baseSeqs[e]!,
        );
        const r: VariantRun = {
          path: variant.path,
          run,
          committed,
          published: opts.leadUpdates + opts.updates,
          cpu: { stage: cpu.self, workers: cpu.workers, dynamo: cpu.dynamo, awsSide: run.cpuShare },
          seconds: (performance.now() - t0) / 1000,
        };
        runs.push(r);
        const worst = Math.max(...run.events.map((ev) => ev.staleness.p99));
        log(
          `  events: ${variant.path}: lost ${run.events.reduce((n, ev) => n + ev.lost, 0)}, worst p99 ${s2(worst)} s (target ${targetS.toFixed(2)} s), ${run.gateway.throttled} × 429 of ${callsOf(run.gateway).toLocaleString('en-US')} calls`,
        );
      } finally {
        await stage.stop();
      }
    }
  } finally {
    await aws.stop();
  }

  const rows: Table['rows'] = [];
  const n = opts.audiences.length;
  for (const r of runs) {
    for (let e = 0; e < n; e++) {
      const ev = r.run.events[e]!;
      const calls = r.run.calls[e]!;
      const throttled = r.run.throttled[e]!;
      rows.push([
        r.path,
        `event ${e + 1}`,
        ev.viewers,
        `${r.committed[e]}/${r.published}`,
        `${ev.lost}/${ev.duplicates}`,
        s2(ev.staleness.p50),
        s2(ev.staleness.p99),
        s2(ev.staleness.max),
        targetS.toFixed(2),
        ev.lost === 0 && ev.staleness.p99 / 1000 <= targetS ? 'yes' : 'NO',
        `${s2(ev.leadStaleness.p99)}${ev.leadLost ? ` (${ev.leadLost} lost)` : ''}`,
        calls,
        throttled,
        pct(throttled, calls),
        pct(r.run.measuredThrottled[e]!, r.run.measuredCalls[e]!),
        s2(r.run.acks[e]!.p99),
      ]);
    }
    const quietAcks = r.run.acks.slice(n);
    rows.push([
      r.path,
      `${opts.reporterOnly} reporter-only; reporters' ids`,
      0,
      `${sum(r.committed.slice(n))}/${Math.ceil(r.published / opts.quietEvery) * opts.reporterOnly}`,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      r.run.calls[n],
      r.run.throttled[n],
      pct(r.run.throttled[n]!, r.run.calls[n]!),
      pct(r.run.measuredThrottled[n]!, r.run.measuredCalls[n]!),
      quietAcks.length ? `${s2(Math.max(...quietAcks.map((a) => a.p99)))} worst` : undefined,
    ]);
    const total = sum(r.run.calls);
    const all429 = sum(r.run.throttled);
    rows.push([
      r.path,
      'all',
      sigmaN,
      undefined,
      `${sum(r.run.events.map((ev) => ev.lost))}/${sum(r.run.events.map((ev) => ev.duplicates))}`,
      undefined,
      s2(Math.max(...r.run.events.map((ev) => ev.staleness.p99))),
      undefined,
      targetS.toFixed(2),
      r.run.events.every((ev) => ev.lost === 0 && ev.staleness.p99 / 1000 <= targetS) ? 'yes' : 'NO',
      undefined,
      total,
      all429,
      pct(all429, total),
      pct(sum(r.run.measuredThrottled), sum(r.run.measuredCalls)),
      undefined,
      `${r.cpu.stage.toFixed(2)}/${r.cpu.workers.toFixed(2)}/${r.cpu.awsSide.toFixed(2)}/${Number.isNaN(r.cpu.dynamo) ? '?' : r.cpu.dynamo.toFixed(2)}`,
      Math.round(r.run.postsPerSecond),
    ]);
  }
  const table: Table = {
    title: `Events at once, simulated AWS: ${opts.limits.latencyMs} ms a call, bucket ${budget.toLocaleString('en-US')}/s (burst ${opts.limits.burst?.toLocaleString('en-US')}), B = ${budget.toLocaleString('en-US')}; ${opts.audiences.length} events with ${opts.audiences.map((n) => n.toLocaleString('en-US')).join(' + ')} viewers and ${opts.reporterOnly} with only a reporter; every reporter ${opts.leadUpdates} + ${opts.updates} updates at ${opts.perSecond}/s (reporter-only ones every ${opts.quietEvery}th: ${(opts.perSecond / opts.quietEvery).toFixed(1)}/s)`,
    columns: [
      'path',
      'event',
      'viewers',
      'committed',
      'lost/dup',
      'p50 s',
      'p99 s',
      'max s',
      'p99 target s',
      'met',
      'lead-in p99 s',
      'calls',
      '429s',
      '429 share',
      '429 share, measured',
      'ack p99 s',
      'cores stage/workers/AWS/DDB',
      'posts/s',
    ],
    rows,
    notes: [
      `ΣN = ${sigmaN.toLocaleString('en-US')} viewers, ΣN/B = ${floorS.toFixed(2)} s, target for every event: 0 lost, p99 ≤ 1.5 × ΣN/B + 1 s = ${targetS.toFixed(2)} s, 429s ≤ 1% of calls. Both paths run on the same events and rows, one after the other, each on a fresh stage and a fresh gateway (fresh bucket), after a warm-up event (${opts.warmViewers} viewers, ${opts.warmUpdates} updates) whose workers have ended.`,
      `Every reporter publishes ${opts.leadUpdates} lead-in updates (the workers start; under the ledger every one is a newcomer until it has settled, 5 s) and then ${opts.updates} measured ones, on one schedule each, offset by 1/${allEvents.length} of a period from the next. staleness (p50/p99/max) = publish → receipt over the measured updates; lead-in p99 = the same over the lead-in's. lost = measured (viewer, update) pairs never received within ${(drainMs / 1000).toFixed(0)} s of the last publish; dup = received twice (lead-in included).`,
      `calls = every @connections call the gateway answered for that event's viewers (posts, 410s, 429s, gets, deletes), from the lead-in's start (429 share, measured: from the first measured publish on, the start-up left out); the reporter-only row counts calls to the reporters' own ids (updates posted to a reporter's row, unknown to this gateway: 410, and the row is dropped; acks are the route's response and spend no call). ack p99 = publish → the reporter's ack, measured updates. cores: the stage process, the workers' processes (${opts.workerProcesses}), the AWS-side child, DynamoDB Local; posts/s = messages the viewers received ÷ (first publish → last receipt).`,
    ],
  };

  const targets: Target[] = [];
  for (const r of runs.filter((x) => x.path === 'ledger')) {
    const worst = r.run.events.reduce((w, ev) => (ev.staleness.p99 > w.staleness.p99 ? ev : w));
    const lost = sum(r.run.events.map((ev) => ev.lost));
    const total = sum(r.run.calls);
    const all429 = sum(r.run.throttled);
    targets.push(
      {
        scenario: 'events',
        name: `ledger, ${opts.audiences.length} events (${sigmaN.toLocaleString('en-US')} viewers) + ${opts.reporterOnly} reporter-only: loss and staleness`,
        target: `0 lost, each event's p99 ≤ 1.5 × ΣN/B + 1 s = ${targetS.toFixed(2)} s`,
        measured: `${lost} lost, worst p99 ${s2(worst.staleness.p99)} s (${worst.viewers.toLocaleString('en-US')} viewers)`,
        met: lost === 0 && r.run.events.every((ev) => ev.staleness.p99 / 1000 <= targetS),
      },
      {
        scenario: 'events',
        name: 'ledger: 429s',
        target: '≤ 1% of calls',
        measured: `${all429.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} (${pct(all429, total)})`,
        met: all429 <= total * 0.01,
      },
    );
  }
  return {
    name: 'events',
    tables: [table],
    targets,
    data: { options: opts, sigmaN, floorS, targetS, setupS, runs },
    seconds: (performance.now() - started) / 1000,
  };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
