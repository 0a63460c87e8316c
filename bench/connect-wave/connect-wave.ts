// Scenario "connect-wave": thousands of phones connecting at AWS's 500 new connections/s while the
// reporter publishes at 3/s, with DynamoDB's transaction conflicts imitated from the calls themselves
// (local/dynamo-faults.ts, `contention`: a write meeting an item a transaction in flight is writing is
// refused). Two variants side by side, each on a stage and a DynamoDB Local of its own:
// - "stream count" (this code): $connect is one PutItem of the row, the viewer count follows from the
//   Connections stream;
// - "event item" (today's behaviour before issue 13): $connect / $disconnect are a transaction of the
//   row and the event item's viewer counter (event-item-connection-store.ts), the item every publish
//   writes too.
// Per variant: publish → ack without a wave, then with one; handshakes by status; the viewer count
// once the wave is in (against the sockets open) and once everyone has left (against 0).
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { container } from '../../functions/lib/container';
import { tableIds } from '../../local/faults';
import type { Stage } from '../../local/stage';
import type { WsGatewayStats } from '../../local/ws-gateway';
import { type Child, startChild } from '../lib/child';
import { cpuSpan, type CpuShares } from '../lib/cpu';
import type { ScenarioReport, Target } from '../lib/report';
import { benchStage, type BenchEvent, createEvent, reporterUrl, viewerUrl } from '../lib/stage';
import type { Table } from '../lib/table';
import { EventItemConnectionStore, legacyDynamoClient } from './event-item-connection-store';
import type { PublishResult, WaveResult } from './wave-clients';

export interface ConnectWaveOptions {
  /** Viewers in the wave. */
  viewers: number;
  /** Their arrival rate (AWS: 500 new connections/s per account and Region), and the stage's admission rate. */
  ratePerSecond: number;
  /** The reporter's publishes per second. */
  perSecond: number;
  /** Publishes measured without a wave (and at least this long with one). */
  baselineUpdates: number;
  warmupUpdates: number;
  /** How long a viewer keeps retrying after the wave's start before it counts as not in. */
  waveDeadlineMs: number;
  /** How long the viewer count may take to reach the truth after the wave, and after everyone left. */
  settleMs: number;
  workerProcesses: number;
}

export type Variant = 'stream' | 'event-item';
const LABEL: Record<Variant, string> = { stream: 'stream count (now)', 'event-item': 'event item (before issue 13)' };

export interface VariantResult {
  variant: Variant;
  baseline: PublishResult;
  wave: WaveResult;
  duringWave: PublishResult;
  /** Gateway counters over the wave (and its publishes). */
  gateway: { accepted: number; throttled: number; unavailable: number; handlerErrors: number };
  /** Conflicts the contention gave over the wave, by table id. */
  conflicts: Record<string, number>;
  countAfterWave: { count: number; open: number; settledMs: number };
  countAfterLeave: { count: number; settledMs: number };
  cpu: CpuShares;
}

const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '—');
const n = (v: number) => v.toLocaleString('en-US');

/** The p-quantile of the finite values (nearest rank, never flattering); NaN when there are none. */
function pct(values: number[], p: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.ceil(p * v.length) - 1)]! : NaN;
}

function gatewayDelta(a: WsGatewayStats, b: WsGatewayStats): VariantResult['gateway'] {
  return {
    accepted: b.connectionsAccepted - a.connectionsAccepted,
    throttled: b.handshakesThrottled - a.handshakesThrottled,
    unavailable: b.handshakesUnavailable - a.handshakesUnavailable,
    handlerErrors: b.handlerErrors - a.handlerErrors,
  };
}

/** The viewer count as each variant keeps it: the stream's counters (GET /events/{id}), or the event item's attribute. */
function viewerCount(stage: Stage, variant: Variant, eventId: string): () => Promise<number> {
  if (variant === 'stream') {
    return async () => {
      const res = await fetch(`${stage.httpUrl}/events/${eventId}`);
      if (!res.ok) throw new Error(`GET /events/${eventId}: ${res.status}`);
      return ((await res.json()) as { viewers: number }).viewers;
    };
  }
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: stage.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  return async () => {
    const { Item } = await db.send(
      new GetCommand({ TableName: stage.tables.events, Key: { eventId }, ConsistentRead: true }),
    );
    return typeof Item?.viewers === 'number' ? Item.viewers : 0;
  };
}

/** Polls the count until it is `expected` or `ms` have passed; the last count read and when it got there. */
async function settle(
  read: () => Promise<number>,
  expected: () => Promise<number>,
  ms: number,
): Promise<{ count: number; settledMs: number }> {
  const t0 = performance.now();
  let count = await read();
  while (count !== (await expected()) && performance.now() - t0 < ms) {
    await sleep(500);
    count = await read();
  }
  return { count, settledMs: count === (await expected()) ? performance.now() - t0 : NaN };
}

async function runVariant(
  variant: Variant,
  tag: string,
  opts: ConnectWaveOptions,
  log: (line: string) => void,
): Promise<VariantResult> {
  const clients: Child = await startChild('bench/connect-wave/wave-clients.ts');
  // A DynamoDB Local of its own (in memory): one that served the other variant writes slower.
  const stage = await benchStage('', `cw${variant === 'stream' ? 's' : 'e'}${tag}`, {
    dynamo: { port: 0 },
    workerProcesses: opts.workerProcesses,
    connectRatePerSecond: opts.ratePerSecond,
    // DynamoDB's transaction conflicts on every table, from the overlap of the calls themselves.
    faults: { dynamo: { share: 0, contention: tableIds } },
  });
  try {
    if (variant === 'event-item') {
      // The stage has set the handlers' configuration and reset their container: the one built
      // now is the one its handlers use, with the store they had before issue 13.
      const c = container();
      c.connections = new EventItemConnectionStore(legacyDynamoClient(), c.config.tables);
    }
    const event: BenchEvent = await createEvent(stage, `bench connect wave — ${variant}`);
    const count = viewerCount(stage, variant, event.eventId);
    await clients.call('reporter', { url: reporterUrl(stage, event) });
    const answerTimeoutMs = 60_000;
    const publish = (runId: string, updates: number, whileWave: boolean) =>
      clients.call<PublishResult>(
        'publish',
        { runId, perSecond: opts.perSecond, count: updates, whileWave, answerTimeoutMs },
        opts.waveDeadlineMs + answerTimeoutMs + 60_000,
      );
    // Warm-up (the JITs' first pass over the publish path), not measured.
    await publish(`${variant}-warm`, opts.warmupUpdates, false);
    const baseline = await publish(`${variant}-base`, opts.baselineUpdates, false);
    log(
      `  connect-wave: ${LABEL[variant]}: no wave, ${baseline.published} publishes, ack p50 ${s(pct(baseline.ackMs, 0.5))} s, p99 ${s(pct(baseline.ackMs, 0.99))} s`,
    );

    const g0 = stage.ws.stats();
    const f0 = stage.faultStats().dynamo?.contended ?? {};
    const span = cpuSpan(stage.workerPids());
    const waving = clients.call<WaveResult>(
      'wave',
      {
        url: viewerUrl(stage, event.eventId),
        count: opts.viewers,
        ratePerSecond: opts.ratePerSecond,
        deadlineMs: opts.waveDeadlineMs,
      },
      opts.waveDeadlineMs + 120_000,
    );
    // Sent after the wave's call, so the child has started the wave: the reporter goes on while it runs.
    const publishing = publish(`${variant}-wave`, 1, true);
    const [wave, duringWave] = await Promise.all([waving, publishing]);
    const cpu = span();
    const gateway = gatewayDelta(g0, stage.ws.stats());
    const f1 = stage.faultStats().dynamo?.contended ?? {};
    const conflicts = Object.fromEntries(
      Object.entries(f1)
        .map(([t, v]): [string, number] => [t, v - (f0[t] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
    log(
      `  connect-wave: ${LABEL[variant]}: ${n(wave.connected)} of ${n(wave.offered)} in after ${s(wave.ms)} s, refused ${JSON.stringify(wave.refusals)}; ` +
        `${duringWave.published} publishes meanwhile, ack p99 ${s(pct(duringWave.ackMs, 0.99))} s; conflicts ${JSON.stringify(conflicts)}`,
    );

    const open = () => clients.call<number>('open');
    const afterWave = await settle(count, open, opts.settleMs);
    const openNow = await open();
    await clients.call('closeViewers', undefined, 60_000);
    const afterLeave = await settle(count, async () => 0, opts.settleMs);
    log(
      `  connect-wave: ${LABEL[variant]}: count ${n(afterWave.count)} with ${n(openNow)} open; ${n(afterLeave.count)} after everyone left`,
    );
    return {
      variant,
      baseline,
      wave,
      duringWave,
      gateway,
      conflicts,
      countAfterWave: { count: afterWave.count, open: openNow, settledMs: afterWave.settledMs },
      countAfterLeave: afterLeave,
      cpu,
    };
  } finally {
    await clients.call('close', undefined, 60_000).catch(() => {});
    await stage.stop();
    await clients.stop();
  }
}

export async function runConnectWave(
  tag: string,
  opts: ConnectWaveOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const started = performance.now();
  log(
    `  connect-wave: ${n(opts.viewers)} viewers arriving at ${n(opts.ratePerSecond)}/s, the reporter at ${opts.perSecond}/s; transaction conflicts from overlapping writes on every table`,
  );
  const results: VariantResult[] = [];
  for (const variant of ['stream', 'event-item'] as const) results.push(await runVariant(variant, tag, opts, log));

  const refusedBy = (r: VariantResult) =>
    Object.entries(r.wave.refusals)
      .map(([st, k]) => `${st}: ${n(k)}`)
      .join(', ') || 'none';
  const publishFailures = (p: PublishResult) => p.ackMs.filter((v) => !Number.isFinite(v)).length;
  const row = (r: VariantResult) => {
    const base99 = pct(r.baseline.ackMs, 0.99);
    const wave99 = pct(r.duringWave.ackMs, 0.99);
    return [
      LABEL[r.variant],
      `${n(r.wave.connected)} / ${n(r.wave.offered)}`,
      refusedBy(r),
      r.gateway.handlerErrors,
      s(r.wave.ms),
      `${s(pct(r.baseline.ackMs, 0.5))} / ${s(base99)}`,
      `${s(pct(r.duringWave.ackMs, 0.5))} / ${s(wave99)}`,
      Number.isFinite(base99) && Number.isFinite(wave99) ? `${((wave99 / base99 - 1) * 100).toFixed(0)}%` : '—',
      `${publishFailures(r.baseline) + publishFailures(r.duringWave)}${Object.keys(r.duringWave.errors).length ? ` ${JSON.stringify(r.duringWave.errors)}` : ''}`,
      `${n(r.countAfterWave.count)} / ${n(r.countAfterWave.open)}`,
      n(r.countAfterLeave.count),
      Object.entries(r.conflicts)
        .map(([t, k]) => `${t} ${n(k)}`)
        .join(', ') || '0',
    ];
  };
  const table: Table = {
    title: `Connect wave: ${n(opts.viewers)} viewers arriving at ${n(opts.ratePerSecond)}/s while the reporter publishes at ${opts.perSecond}/s; DynamoDB transaction conflicts from overlapping writes`,
    columns: [
      'variant',
      'viewers in',
      'refused (attempts, by status)',
      '$connect failed',
      'wave s',
      'ack p50 / p99 s, no wave',
      'ack p50 / p99 s, wave',
      'p99 change',
      'publishes failed',
      'count / open after wave',
      'count after all left',
      'conflicts',
    ],
    rows: results.map(row),
    notes: [
      `Viewers arrive on a schedule at ${n(opts.ratePerSecond)}/s (the stage admits ${n(opts.ratePerSecond)}/s, AWS's account default, 429 past it; it also runs at most 32 handshakes at once with a short queue, 503 past it) and retry 429 and 503 after U(0, min(8 s, 250 ms × 2^n)) until ${s(opts.waveDeadlineMs)} s after the wave's start. ` +
        `$connect failed: handshakes whose authorizer or $connect threw (the gateway answers 503 for a capacity error such as a transaction conflict, 500 otherwise). wave s: first arrival → last viewer in.`,
      `ack: publish frame sent → its ack, on the clients' process clock; no wave: ${opts.baselineUpdates} publishes at ${opts.perSecond}/s after ${opts.warmupUpdates} unmeasured; wave: publishes at ${opts.perSecond}/s for as long as the wave runs (${results.map((r) => r.duringWave.published).join(' / ')}). ` +
        `count: the viewer count as each variant keeps it (GET /events/{id} — the stream's counters; the event item's \`viewers\`), read until it equals the sockets open (${s(opts.settleMs)} s at most); after all left: the same against 0. ` +
        `conflicts: writes the contention refused during the wave (DynamoDB Local runs every call on one thread, so a transaction is "in flight" longer here than on AWS's ~10 ms: more overlap than AWS would see at the same rate).`,
      `CPU (cores) during the wave, stream / event item: stage ${results.map((r) => r.cpu.self.toFixed(2)).join(' / ')}, workers ${results.map((r) => r.cpu.workers.toFixed(2)).join(' / ')}, DynamoDB Local ${results.map((r) => r.cpu.dynamo.toFixed(2)).join(' / ')}.`,
    ],
  };

  const now = results.find((r) => r.variant === 'stream')!;
  const only429 =
    Object.keys(now.wave.refusals).every((st) => st === '429') &&
    Object.keys(now.wave.errors).length === 0 &&
    now.wave.notIn === 0;
  const base99 = pct(now.baseline.ackMs, 0.99);
  const wave99 = pct(now.duringWave.ackMs, 0.99);
  const acksOk = publishFailures(now.baseline) + publishFailures(now.duringWave) === 0 && wave99 <= 1.2 * base99;
  const exact = now.countAfterWave.count === now.countAfterWave.open && now.countAfterLeave.count === 0;
  const targets: Target[] = [
    {
      scenario: 'connect-wave',
      name: `${n(opts.viewers)} viewers at ${opts.ratePerSecond}/s: handshakes refused`,
      target: 'only with 429, everyone in',
      measured: `${refusedBy(now)}${Object.keys(now.wave.errors).length ? `; errors ${JSON.stringify(now.wave.errors)}` : ''}; ${n(now.wave.connected)} of ${n(now.wave.offered)} in`,
      met: only429,
    },
    {
      scenario: 'connect-wave',
      name: 'publish ack p99 during the wave',
      target: '≤ 1.2 × p99 without it, none failed',
      measured: `${s(wave99)} s vs ${s(base99)} s (${(wave99 / base99 || NaN).toFixed(2)}×), ${publishFailures(now.baseline) + publishFailures(now.duringWave)} failed`,
      met: acksOk,
    },
    {
      scenario: 'connect-wave',
      name: 'viewer count at the end',
      target: 'exact: = sockets open, 0 after all left',
      measured: `${n(now.countAfterWave.count)} with ${n(now.countAfterWave.open)} open; ${n(now.countAfterLeave.count)} after`,
      met: exact,
    },
  ];
  return {
    name: 'connect-wave',
    tables: [table],
    targets,
    data: { options: opts, results },
    seconds: (performance.now() - started) / 1000,
  };
}
