// The command line of `npm run bench`: which scenario, full or quick sizes, and overrides; each flag also has a BENCH_* variable.
import { type ParseArgsConfig, parseArgs as parseCommandLine } from 'node:util';
import type { AbuseOptions } from '../abuse/abuse';
import type { BundlesOptions } from '../bundles/bundles';
import type { ConnectWaveOptions } from '../connect-wave/connect-wave';
import type { CostOptions } from '../cost/cost';
import type { EventsOptions } from '../events/events';
import type { RepostsOptions } from '../reposts/reposts';
import type { SimulatedOptions } from '../simulated/simulated';
import type { SocketsOptions } from '../sockets/sockets';

export const SCENARIOS = [
  'sockets',
  'simulated',
  'cost',
  'reposts',
  'abuse',
  'bundles',
  'events',
  'connect-wave',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: ScenarioName[];
  quick: boolean;
  sockets: SocketsOptions;
  simulated: SimulatedOptions;
  cost: CostOptions;
  reposts: RepostsOptions;
  abuse: AbuseOptions;
  bundles: BundlesOptions;
  events: EventsOptions;
  connectWave: ConnectWaveOptions;
  /** Where the JSON goes. */
  outDir: string;
}

export const USAGE = `usage: npm run bench -- [all|sockets|simulated|cost|reposts|abuse|bundles|events|connect-wave] [flags]

  --quick                 small sizes, for a check in about two minutes (BENCH_QUICK=1)
  --viewers N             sockets: WebSocket viewers (default 5000; quick 500)
  --sizes N,N             simulated: virtual viewers (default 10000,100000; quick 10000)
  --budgets B,B           simulated: LIVECAST_DELIVERY_BUDGET values at every size
                          (default 10000 and 7000 at 10,000 viewers, 10000 at 100,000)
  --updates N             simulated: updates the reporter publishes at 3/s (default 90; quick 30);
                          abuse: updates per phase (default 30; quick 10)
  --no-naive              skip the naive fan-out in both scenarios' comparisons
  --naive-max-viewers N   simulated: largest audience the naive fan-out runs at (default 10000; more needs a
                          bigger heap, which the bench then gives itself)
  --in-flight N           simulated: LIVECAST_WORKER_IN_FLIGHT for the livecast stage (default: the product's)
  --worker-processes N    sockets, simulated: child processes the stage runs its delivery workers in, as AWS
                          runs each invocation apart (default 2; 0 runs them in the stage's own process)
  --posts N               cost: posts per measured round (default 10000; quick 4000)
  --storm-viewers N       reposts: connections in the repost storm, each reposting 10 entries (default 1000; quick 300)
  --honest N              abuse: honest viewers, real sockets (default 50; quick 20)
  --flooders N            abuse: flooding anonymous sockets in phase B (default 20)
  --rate R                abuse: updates the reporter publishes per second (default 1)
  --scale N               abuse: AWS's @connections limits (10,000/s, burst 5,000) and the delivery budget
                          divided by N (default 25: 400/s, burst 200)
  --history N             abuse: entries of 2,000 Chinese characters in each phase's event (default 200; quick 100)
  --imports N             bundles: fresh node processes importing each bundle, median kept (default 7; quick 3)
  --audiences N,N         events: viewers of each event with an audience (default 10000,3000,1000,100; quick ÷10)
  --event-budget B        events: the account's bucket rate and the delivery budget B (default 10000, burst B/2;
                          quick 200, so this machine can reach it and the fixed B/16 path meets 429s: ΣN/B 7.05 s)
  --reporter-only N       events: events with only a reporter (default 20)
  --event-updates N       events: measured updates per reporter at 3/s, after 30 lead-in ones (default 60; quick 30)
  --wave-viewers N        connect-wave: viewers arriving at 500/s while the reporter publishes (default 10000; quick 1000)
  --out DIR               where results go (default bench/results)
`;

function intList(raw: string, flag: string): number[] {
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n <= 0))
    throw new Error(`${flag} takes positive integers, got ${raw}`);
  return list;
}

function int(raw: string | undefined, flag: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer of at least ${min}, got ${raw}`);
  return n;
}

/** Every flag; each value flag can also come from its BENCH_* variable (read below). */
const FLAGS = {
  quick: { type: 'boolean' },
  'no-naive': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  viewers: { type: 'string' },
  sizes: { type: 'string' },
  budgets: { type: 'string' },
  updates: { type: 'string' },
  'naive-max-viewers': { type: 'string' },
  'in-flight': { type: 'string' },
  'worker-processes': { type: 'string' },
  posts: { type: 'string' },
  'storm-viewers': { type: 'string' },
  honest: { type: 'string' },
  flooders: { type: 'string' },
  rate: { type: 'string' },
  scale: { type: 'string' },
  history: { type: 'string' },
  imports: { type: 'string' },
  audiences: { type: 'string' },
  'reporter-only': { type: 'string' },
  'event-updates': { type: 'string' },
  'event-budget': { type: 'string' },
  'wave-viewers': { type: 'string' },
  out: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function positiveNumber(raw: string, flag: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new Error(`${flag} takes a positive number, got ${raw}`);
  return n;
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values, positionals } = (() => {
    try {
      return parseCommandLine({ args: [...argv], options: FLAGS, allowPositionals: true });
    } catch (err) {
      // An unknown flag, or a value flag without its value: node's message, then the usage.
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`, { cause: err });
    }
  })();
  if (values.help) throw new Error(USAGE);
  const scenario = positionals.at(-1) ?? env.BENCH_SCENARIO ?? 'all';
  const quick = values.quick === true || env.BENCH_QUICK === '1';
  const naive = values['no-naive'] !== true && env.BENCH_NAIVE !== '0';
  const flags = new Map<string, string>(
    Object.entries(values).flatMap(([name, v]) =>
      typeof v === 'string' ? [[`--${name}`, v] as [string, string]] : [],
    ),
  );
  const fromEnv = (flag: string, name: string) => flags.get(flag) ?? env[name];
  if (scenario !== 'all' && !(SCENARIOS as readonly string[]).includes(scenario))
    throw new Error(`unknown scenario ${scenario}\n\n${USAGE}`);

  const viewersRaw = fromEnv('--viewers', 'BENCH_VIEWERS');
  const sizesRaw = fromEnv('--sizes', 'BENCH_SIZES');
  const budgetsRaw = fromEnv('--budgets', 'BENCH_BUDGETS');
  const updatesRaw = fromEnv('--updates', 'BENCH_UPDATES');
  const inFlightRaw = fromEnv('--in-flight', 'BENCH_IN_FLIGHT');
  const postsRaw = fromEnv('--posts', 'BENCH_POSTS');
  const naiveMaxRaw = fromEnv('--naive-max-viewers', 'BENCH_NAIVE_MAX_VIEWERS');
  const stormViewersRaw = fromEnv('--storm-viewers', 'BENCH_STORM_VIEWERS');
  const workerProcessesRaw = fromEnv('--worker-processes', 'BENCH_WORKER_PROCESSES');
  const honestRaw = fromEnv('--honest', 'BENCH_HONEST');
  const floodersRaw = fromEnv('--flooders', 'BENCH_FLOODERS');
  const rateRaw = fromEnv('--rate', 'BENCH_RATE');
  const scaleRaw = fromEnv('--scale', 'BENCH_SCALE');
  const historyRaw = fromEnv('--history', 'BENCH_HISTORY');
  const importsRaw = fromEnv('--imports', 'BENCH_IMPORTS');
  const audiencesRaw = fromEnv('--audiences', 'BENCH_AUDIENCES');
  const reporterOnlyRaw = fromEnv('--reporter-only', 'BENCH_REPORTER_ONLY');
  const eventUpdatesRaw = fromEnv('--event-updates', 'BENCH_EVENT_UPDATES');
  // Quick: audiences ÷10, and a budget this machine's delivery reaches (at 1,000/s it posted ~340/s:
  // the bucket never emptied, so neither path met a 429 and the comparison showed nothing).
  const eventsScale = quick ? 10 : 1;
  const eventBudgetRaw = fromEnv('--event-budget', 'BENCH_EVENT_BUDGET');
  const eventBudget = eventBudgetRaw ? int(eventBudgetRaw, '--event-budget') : quick ? 200 : 10_000;
  const waveViewersRaw = fromEnv('--wave-viewers', 'BENCH_WAVE_VIEWERS');
  const workerProcesses = workerProcessesRaw ? int(workerProcessesRaw, '--worker-processes', 0) : 2;

  const sizes = sizesRaw ? intList(sizesRaw, '--sizes') : quick ? [10_000] : [10_000, 100_000];
  const budgets = budgetsRaw ? intList(budgetsRaw, '--budgets') : undefined;
  return {
    scenarios: scenario === 'all' ? [...SCENARIOS] : [scenario as ScenarioName],
    quick,
    outDir: flags.get('--out') ?? env.BENCH_OUT ?? 'bench/results',
    sockets: {
      viewers: viewersRaw ? int(viewersRaw, '--viewers') : quick ? 500 : 5_000,
      updates: 20,
      warmupUpdates: 5,
      connectConcurrency: 100,
      runTimeoutMs: quick ? 60_000 : 150_000,
      budget: 1_000_000,
      workerProcesses,
      naive,
      naiveMaxPendingPosts: 30_000,
    },
    simulated: {
      // Without --budgets: the account's 10,000/s everywhere, and the product's default 7,000/s where it is quick to run.
      sizes: sizes.map((viewers) => ({
        viewers,
        budgets: budgets ?? (viewers <= 10_000 && !quick ? [10_000, 7_000] : [10_000]),
      })),
      updates: updatesRaw ? int(updatesRaw, '--updates') : quick ? 30 : 90,
      perSecond: 3,
      workerProcesses,
      limits: { latencyMs: 25, rate: 10_000, burst: 5_000, seed: 20_260_701 },
      minDrainMs: quick ? 15_000 : 20_000,
      naive,
      naiveMaxViewers: naiveMaxRaw ? int(naiveMaxRaw, '--naive-max-viewers') : 10_000,
      naiveDrainMs: quick ? 10_000 : 30_000,
      naiveMaxPendingPosts: 30_000,
      // Live counts as a steady trickle of reposts writes them (a stats line a second) through the
      // run, and for a quiet tail after it: the messages per viewer-hour they cost.
      countsEveryMs: 1_000,
      countsTailMs: quick ? 20_000 : 30_000,
      env: inFlightRaw ? { LIVECAST_WORKER_IN_FLIGHT: String(int(inFlightRaw, '--in-flight')) } : {},
    },
    reposts: {
      viewers: stormViewersRaw ? int(stormViewersRaw, '--storm-viewers') : quick ? 300 : 1_000,
      entries: 10,
      rawInFlight: 64,
      workerProcesses,
    },
    abuse: {
      honest: honestRaw ? int(honestRaw, '--honest') : quick ? 20 : 50,
      updates: updatesRaw ? int(updatesRaw, '--updates') : quick ? 10 : 30,
      perSecond: rateRaw ? positiveNumber(rateRaw, '--rate') : 1,
      flooders: floodersRaw ? int(floodersRaw, '--flooders') : 20,
      scale: scaleRaw ? positiveNumber(scaleRaw, '--scale') : 25,
      history: historyRaw ? int(historyRaw, '--history') : quick ? 100 : 200,
      historyChars: 2_000,
      inFlight: 8,
      drainMs: quick ? 20_000 : 30_000,
      rampMs: 3_000,
      warmupUpdates: 3,
      workerProcesses,
    },
    events: {
      audiences: audiencesRaw
        ? intList(audiencesRaw, '--audiences')
        : [10_000, 3_000, 1_000, 100].map((n) => n / eventsScale),
      reporterOnly: reporterOnlyRaw ? int(reporterOnlyRaw, '--reporter-only', 0) : 20,
      leadUpdates: 30,
      updates: eventUpdatesRaw ? int(eventUpdatesRaw, '--event-updates') : quick ? 30 : 60,
      perSecond: 3,
      quietEvery: 10,
      limits: { latencyMs: 25, rate: eventBudget, burst: Math.max(1, Math.floor(eventBudget / 2)), seed: 20_260_701 },
      minDrainMs: 20_000,
      workerProcesses,
      workerIdleMs: 10_000,
      warmViewers: 1_000 / eventsScale,
      warmUpdates: 5,
    },
    bundles: { imports: importsRaw ? int(importsRaw, '--imports') : quick ? 3 : 7 },
    connectWave: {
      viewers: waveViewersRaw ? int(waveViewersRaw, '--wave-viewers') : quick ? 1_000 : 10_000,
      ratePerSecond: 500,
      perSecond: 3,
      baselineUpdates: quick ? 30 : 60,
      warmupUpdates: 5,
      waveDeadlineMs: quick ? 120_000 : 300_000,
      settleMs: 30_000,
      workerProcesses,
    },
    cost: {
      posts: postsRaw ? int(postsRaw, '--posts') : quick ? 4_000 : 10_000,
      rounds: quick ? 3 : 5,
      inFlight: 64,
    },
  };
}
