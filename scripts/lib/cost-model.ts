// The bill of one live event, from the delivery rules the workers follow: the counts cadence is the
// worker's own function (shared/domain/delivery/cadence.ts), the sweep and poll timings its options.
// Everything else (handler durations, item sizes) is an estimate, named as one in ASSUMED.
import { allot, defaultBudgetPolicy } from '../../shared/domain/delivery/budget-ledger';
import {
  countsIntervalMs,
  type CountsCadence,
  defaultCountsCadence,
  uncappedCounts,
} from '../../shared/domain/delivery/cadence';
import { defaultWorkerOptions } from '../../shared/domain/delivery/worker';
import { STATS_INTERVAL_MS } from '../../shared/domain/stats-publisher';
import {
  deliveryWatchdog,
  deliveryWorker,
  deliveryWake,
  repostTally,
  viewerStats,
  spikeSweep,
} from '../../shared/routes';
import { CONNECTION_SHARDS } from '../../shared/domain/sharding';
import { BUDGET_LEDGER_PARTITIONS } from '../../shared/tables';
import { PRICES } from './prices';

export interface Ceremony {
  viewers: number;
  hours: number;
  /** Publishes, spread evenly over the event. */
  updates: number;
  /** Reposts, spread evenly over the event (each second with one gets a stats line, at most one a second). */
  reposts: number;
  /** The event's @connections budget (LIVECAST_DELIVERY_BUDGET). */
  budget: number;
}

export type CadenceName = 'before' | 'after';
export const cadences: Record<CadenceName, Omit<CountsCadence, 'ratePerSecond'>> = {
  before: uncappedCounts,
  after: defaultCountsCadence,
};

/** What one viewer of a shard is sent: every viewer of the event gets the same (they are swept alike). */
export interface ViewerMessages {
  /** Messages that carry an update (and whatever counts are pending with it). */
  updateMessages: number;
  /** Messages that carry only live counts. */
  countMessages: number;
  /** The longest a viewer's counts were older than the newest stats line (ms). */
  maxStalenessMs: number;
  /** How long the shard's worker runs (ms): from a change until idleExitMs after the last visit it owed. */
  workerBusyMs: number;
  statsLines: number;
  intervalMs: number;
}

/** Times (ms from the start) of the updates and of the stats lines, as the model spreads them. */
export function ceremonyTimeline(c: Pick<Ceremony, 'hours' | 'updates' | 'reposts'>): {
  updates: number[];
  stats: number[];
  durationMs: number;
} {
  const durationMs = c.hours * 3_600_000;
  const gap = durationMs / Math.max(1, c.updates);
  const updates = Array.from({ length: c.updates }, (_, i) => Math.round((i + 0.5) * gap));
  // A stats line at the end of every second that had a repost (publishStats: at most one a second).
  const seconds = Math.floor(durationMs / STATS_INTERVAL_MS);
  const perSecond = c.reposts / Math.max(1, seconds);
  const stats: number[] = [];
  for (let s = 1; s <= seconds; s++)
    if (Math.floor(s * perSecond) > Math.floor((s - 1) * perSecond)) stats.push(s * STATS_INTERVAL_MS);
  return { updates, stats, durationMs };
}

/**
 * Walks one viewer through the timeline as its shard's worker treats it: a change that is not
 * stats is sent at the next sweep (visits of a shard follow each other rows ÷ rate apart, so updates
 * closer than that are coalesced); stats alone wait until `countsIntervalMs` after the last visit.
 */
export function viewerMessages(
  timeline: { updates: readonly number[]; stats: readonly number[]; durationMs: number },
  rows: number,
  ratePerSecond: number,
  cadence: Omit<CountsCadence, 'ratePerSecond'>,
  /** Visits after this are not counted (a benchmark's window); by default the last counts after the end are. */
  countUntilMs = Infinity,
): ViewerMessages {
  const intervalMs = countsIntervalMs(rows, { ...cadence, ratePerSecond });
  const sweepMs = (1_000 * rows) / ratePerSecond;
  const changes = [
    ...timeline.updates.map((t) => ({ t, update: true })),
    ...timeline.stats.map((t) => ({ t, update: false })),
  ].sort((a, b) => a.t - b.t || Number(b.update) - Number(a.update));
  let last = -Infinity;
  let countsPendingFrom: number | undefined;
  let updatePendingFrom: number | undefined;
  let updateMessages = 0;
  let countMessages = 0;
  let maxStalenessMs = 0;
  const busy: [number, number][] = [];
  const visit = (at: number, withUpdate: boolean) => {
    if (countsPendingFrom !== undefined) maxStalenessMs = Math.max(maxStalenessMs, at - countsPendingFrom);
    if (at > countUntilMs) {
      // past the window: not counted
    } else if (withUpdate) updateMessages++;
    else countMessages++;
    last = at;
    countsPendingFrom = undefined;
    updatePendingFrom = undefined;
  };
  /** Visits due strictly before `t`. */
  const catchUp = (t: number) => {
    for (;;) {
      if (updatePendingFrom !== undefined) {
        const due = Math.max(updatePendingFrom, last + sweepMs);
        if (due >= t) return;
        visit(due, true);
      } else if (countsPendingFrom !== undefined) {
        const due = Math.max(countsPendingFrom, last + intervalMs);
        if (due >= t) return;
        visit(due, false);
      } else return;
    }
  };
  for (const change of changes) {
    catchUp(change.t);
    busy.push([change.t, change.t]);
    if (change.update) updatePendingFrom ??= change.t;
    else countsPendingFrom ??= change.t;
  }
  catchUp(Infinity);
  // The worker stays while anything is owed or deferred, and idleExitMs after.
  let workerBusyMs = 0;
  let open: [number, number] | undefined;
  for (const [from] of busy) {
    const until = from + Math.max(intervalMs, sweepMs) + defaultWorkerOptions.idleExitMs;
    if (open && from <= open[1]) open[1] = Math.max(open[1], until);
    else {
      if (open) workerBusyMs += open[1] - open[0];
      open = [from, until];
    }
  }
  if (open) workerBusyMs += open[1] - open[0];
  return { updateMessages, countMessages, maxStalenessMs, workerBusyMs, statsLines: timeline.stats.length, intervalMs };
}

/**
 * Estimates, not measured on AWS: the average billed duration of each function's invocation (ms)
 * and item sizes. Durations from the local stage's handler timings, rounded up.
 */
export const ASSUMED = {
  durationMs: {
    authorize: 20,
    connect: 30,
    disconnect: 30,
    sync: 40,
    repost: 25,
    publish: 60,
    viewers: 15,
    wake: 30,
    tally: 80,
    viewerStats: 40,
    spikeSweep: 100,
  },
  /** A connection row as the worker reads it. */
  connectionRowBytes: 150,
  /** A change-log line of an update (a 140-character post). */
  changeLineBytes: 700,
  /** Log bytes per invocation: START/END/REPORT lines and one or two of the handler's own (JSON). */
  logBytesPerInvocation: 600,
  /** The delivery worker's log per minute it runs (its own lines and a metrics line per invocation). */
  workerLogBytesPerMinute: 2_000,
  /** Custom metric series (names × dimensions in shared/observability/names.ts, one stage). */
  customMetrics: 10,
};

const DEFAULT_MEMORY_MB = 512; // infra/livecast-function.ts: memorySize default
const memoryOf = (def: { memoryMB?: number }) => def.memoryMB ?? DEFAULT_MEMORY_MB;

export interface Line {
  component: string;
  what: string;
  quantity: number;
  unit: string;
  dollars: number;
}

export interface Bill {
  ceremony: Ceremony;
  cadence: CadenceName;
  perViewer: ViewerMessages;
  updateMessages: number;
  countMessages: number;
  /** Messages clients send, and the route responses they get (acks, pong, synced). */
  otherMessages: number;
  connectionMinutes: number;
  lambda: { fn: string; invocations: number; memoryMB: number; gbSeconds: number }[];
  dynamo: { what: string; wru: number; rru: number }[];
  lines: Line[];
  total: number;
}

const perMillion = (n: number, price: number) => (n / 1e6) * price;

/**
 * A worker's rate when this event is the account's only one: its settled share from the budget
 * ledger (shared/domain/delivery/budget-ledger.ts), every shard holding `shardRows` — B less the
 * newcomers' reserve, ÷ 16.
 */
export function eventShareOfBudget(budget: number, shardRows: number): number {
  const registrations = Array.from({ length: CONNECTION_SHARDS }, (_, i) => ({
    key: `ev#${i}`,
    owner: `w${i}`,
    rows: shardRows,
    beatAt: 0,
    since: 0,
  }));
  return allot({ ...defaultBudgetPolicy, budget }, registrations, { key: 'ev#0', rows: shardRows, since: 0 }, 0);
}

/** The quantities every part of the bill is priced from: one viewer's messages, the workers' time. */
interface Quantities {
  shardRows: number;
  timeline: ReturnType<typeof ceremonyTimeline>;
  perViewer: ViewerMessages;
  durationS: number;
  workerSeconds: number;
  workerInvocations: number;
  changeLines: number;
  viewerStatsBatches: number;
  updateMessages: number;
  countMessages: number;
  otherMessages: number;
  connectionMinutes: number;
}

function quantities(c: Ceremony, cadence: CadenceName): Quantities {
  const shardRows = Math.ceil(c.viewers / CONNECTION_SHARDS);
  const ratePerSecond = eventShareOfBudget(c.budget, shardRows);
  const timeline = ceremonyTimeline(c);
  const perViewer = viewerMessages(timeline, shardRows, ratePerSecond, cadences[cadence]);
  const durationS = timeline.durationMs / 1000;
  return {
    shardRows,
    timeline,
    perViewer,
    durationS,
    workerSeconds: (CONNECTION_SHARDS * perViewer.workerBusyMs) / 1000,
    workerInvocations: CONNECTION_SHARDS * Math.ceil(perViewer.workerBusyMs / defaultWorkerOptions.maxRunMs),
    changeLines: c.updates + timeline.stats.length,
    // The audience arriving and leaving over ~10 minutes each: about a batch a second (of up to batchSize records).
    viewerStatsBatches: 2 * Math.min(c.viewers, Math.max(600, Math.ceil(c.viewers / viewerStats.stream.batchSize))),
    updateMessages: perViewer.updateMessages * c.viewers,
    countMessages: perViewer.countMessages * c.viewers,
    // Inbound: a sync per viewer on connecting, reposts, publishes; each answered by a route response.
    otherMessages: 2 * (c.viewers + c.reposts + c.updates),
    connectionMinutes: (c.viewers + 1) * (durationS / 60),
  };
}

function lambdaUse(c: Ceremony, q: Quantities): Bill['lambda'] {
  const { timeline, durationS, workerSeconds } = q;
  const d = ASSUMED.durationMs;
  const fn = (name: string, invocations: number, memoryMB: number, ms: number) => ({
    fn: name,
    invocations,
    memoryMB,
    gbSeconds: (invocations * ms * memoryMB) / 1024 / 1000,
  });
  return [
    fn('WsAuthorize ($connect)', c.viewers, DEFAULT_MEMORY_MB, d.authorize),
    fn('WsConnect', c.viewers, DEFAULT_MEMORY_MB, d.connect),
    fn('WsDisconnect', c.viewers, DEFAULT_MEMORY_MB, d.disconnect),
    fn('WsSync', c.viewers, DEFAULT_MEMORY_MB, d.sync),
    fn('HttpViewers (POST /viewers)', c.viewers, DEFAULT_MEMORY_MB, d.viewers),
    fn('WsRepost', c.reposts, DEFAULT_MEMORY_MB, d.repost),
    fn('WsPublish', c.updates, DEFAULT_MEMORY_MB, d.publish),
    {
      fn: `${deliveryWorker.id} (16 shards)`,
      invocations: q.workerInvocations,
      memoryMB: DEFAULT_MEMORY_MB,
      gbSeconds: (workerSeconds * DEFAULT_MEMORY_MB) / 1024,
    },
    // One invocation per change line at most (a low rate: each poll finds one record).
    fn(deliveryWake.id, q.changeLines, DEFAULT_MEMORY_MB, d.wake),
    fn(repostTally.id, Math.min(c.reposts, timeline.stats.length), DEFAULT_MEMORY_MB, d.tally),
    fn(viewerStats.id, q.viewerStatsBatches, DEFAULT_MEMORY_MB, d.viewerStats),
    {
      fn: `${deliveryWatchdog.id} (always on)`,
      invocations: durationS / 60 / deliveryWatchdog.everyMinutes,
      memoryMB: memoryOf(deliveryWatchdog),
      gbSeconds: ((durationS / 60) * deliveryWatchdog.runSeconds * memoryOf(deliveryWatchdog)) / 1024,
    },
    fn(spikeSweep.id, durationS / 60, DEFAULT_MEMORY_MB, d.spikeSweep),
  ];
}

// DynamoDB request units (on-demand): 1 WRU per KB written, 2 in a transaction; 1 RRU per 4 KB read consistently.
function dynamoUse(c: Ceremony, q: Quantities): Bill['dynamo'] {
  const { timeline, durationS, workerSeconds, viewerStatsBatches } = q;
  const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
  const rowsQueryRru = Math.max(1, Math.ceil((q.shardRows * ASSUMED.connectionRowBytes) / 4096));
  return [
    { what: 'connect: authorizer and $connect read the event; the row put', wru: c.viewers * 1, rru: c.viewers * 2 },
    { what: 'disconnect: the row delete', wru: c.viewers * 1, rru: 0 },
    // Each batch: one conditional UpdateItem per connection partition it touches, one Query of the counters.
    {
      what: 'viewer count: counters per stream batch (≤ 16 updates) and their read',
      wru: viewerStatsBatches * CONNECTION_SHARDS,
      rru: viewerStatsBatches,
    },
    { what: 'POST /viewers: issuance allowance', wru: c.viewers * 1, rru: 0 },
    { what: 'sync: event and change log reads', wru: 0, rru: c.viewers * 2 },
    {
      what: 'publish: 4-item transaction (event, entry, change, request)',
      wru: c.updates * 4 * 2 * kb(ASSUMED.changeLineBytes),
      rru: c.updates,
    },
    { what: 'repost: conditional put', wru: c.reposts * 1, rru: 0 },
    {
      what: 'tally: counters transaction + totals read + stats line (event + change)',
      wru: timeline.stats.length * (4 * 2 + 2 * 2),
      rru: timeline.stats.length * 3,
    },
    {
      what: `delivery: change-log Query every ${defaultWorkerOptions.pollMs} ms, rows (${rowsQueryRru} RRU) every ${defaultWorkerOptions.rowsMaxAgeMs} ms, lease every ${defaultWorkerOptions.leaseTtlMs / 3000} s`,
      wru: workerSeconds / (defaultWorkerOptions.leaseTtlMs / 3000),
      rru:
        workerSeconds *
        (1000 / defaultWorkerOptions.pollMs + (rowsQueryRru * 1000) / defaultWorkerOptions.rowsMaxAgeMs),
    },
    {
      what: `budget ledger: a registration put and ${BUDGET_LEDGER_PARTITIONS} eventually consistent Queries every ${defaultBudgetPolicy.refreshMs / 1000} s a worker`,
      wru: workerSeconds / (defaultBudgetPolicy.refreshMs / 1000) + q.workerInvocations,
      rru: (workerSeconds / (defaultBudgetPolicy.refreshMs / 1000)) * BUDGET_LEDGER_PARTITIONS * 0.5,
    },
    {
      what: 'watchdog: watch list and leases every 2 s',
      wru: 0,
      rru: (durationS / deliveryWatchdog.checkEverySeconds) * (1 + 8),
    },
  ];
}

/** The priced lines: what AWS bills for the messages, the functions' use and the tables' units. */
function billLines(c: Ceremony, q: Quantities, lambda: Bill['lambda'], dynamo: Bill['dynamo']): Line[] {
  const { updateMessages, countMessages, otherMessages, connectionMinutes, workerSeconds, workerInvocations } = q;
  const p = PRICES;
  const invocations = lambda.reduce((s, f) => s + f.invocations, 0);
  const gbSeconds = lambda.reduce((s, f) => s + f.gbSeconds, 0);
  const wru = dynamo.reduce((s, x) => s + x.wru, 0);
  const rru = dynamo.reduce((s, x) => s + x.rru, 0);
  const logBytes =
    (invocations - workerInvocations) * ASSUMED.logBytesPerInvocation +
    (workerSeconds / 60) * ASSUMED.workerLogBytesPerMinute;
  const hoursInMonth = 730;
  return [
    {
      component: 'API Gateway',
      what: 'messages: updates',
      quantity: updateMessages,
      unit: 'messages',
      dollars: perMillion(updateMessages, p.apiGatewayWebSocket.perMillionMessages),
    },
    {
      component: 'API Gateway',
      what: 'messages: live counts only',
      quantity: countMessages,
      unit: 'messages',
      dollars: perMillion(countMessages, p.apiGatewayWebSocket.perMillionMessages),
    },
    {
      component: 'API Gateway',
      what: 'messages: inbound and route responses',
      quantity: otherMessages,
      unit: 'messages',
      dollars: perMillion(otherMessages, p.apiGatewayWebSocket.perMillionMessages),
    },
    {
      component: 'API Gateway',
      what: 'connection-minutes',
      quantity: connectionMinutes,
      unit: 'minutes',
      dollars: perMillion(connectionMinutes, p.apiGatewayWebSocket.perMillionConnectionMinutes),
    },
    {
      component: 'Lambda',
      what: 'requests',
      quantity: invocations,
      unit: 'requests',
      dollars: perMillion(invocations, p.lambda.perMillionRequests),
    },
    {
      component: 'Lambda',
      what: 'duration (arm64)',
      quantity: gbSeconds,
      unit: 'GB-s',
      dollars: gbSeconds * p.lambda.perGbSecond,
    },
    {
      component: 'DynamoDB',
      what: 'writes (on-demand)',
      quantity: wru,
      unit: 'WRU',
      dollars: perMillion(wru, p.dynamodb.perMillionWriteUnits),
    },
    {
      component: 'DynamoDB',
      what: 'reads (on-demand)',
      quantity: rru,
      unit: 'RRU',
      dollars: perMillion(rru, p.dynamodb.perMillionReadUnits),
    },
    {
      component: 'DynamoDB Streams',
      what: 'reads by the three triggers',
      quantity: q.changeLines + c.reposts + 2 * c.viewers,
      unit: 'records',
      dollars: 0,
    },
    {
      component: 'CloudWatch',
      what: 'logs ingested (estimate)',
      quantity: logBytes / 1e9,
      unit: 'GB',
      dollars: (logBytes / 1e9) * p.cloudWatch.perGbLogsIngested,
    },
    {
      component: 'CloudWatch',
      what: `custom metrics (${ASSUMED.customMetrics} series, the event's hours)`,
      quantity: ASSUMED.customMetrics * c.hours,
      unit: 'metric-hours',
      dollars: (ASSUMED.customMetrics * c.hours * p.cloudWatch.perMetricMonth) / hoursInMonth,
    },
  ];
}

export function ceremonyBill(c: Ceremony, cadence: CadenceName): Bill {
  const q = quantities(c, cadence);
  const lambda = lambdaUse(c, q);
  const dynamo = dynamoUse(c, q);
  const lines = billLines(c, q, lambda, dynamo);
  return {
    ceremony: c,
    cadence,
    perViewer: q.perViewer,
    updateMessages: q.updateMessages,
    countMessages: q.countMessages,
    otherMessages: q.otherMessages,
    connectionMinutes: q.connectionMinutes,
    lambda,
    dynamo,
    lines,
    total: lines.reduce((s, l) => s + l.dollars, 0),
  };
}
