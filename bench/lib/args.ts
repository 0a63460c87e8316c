// The command line of `npm run bench`: which scenario, full or quick sizes, and overrides; each flag also has a BENCH_* variable.
import type { CostOptions } from '../cost/cost';
import type { RepostsOptions } from '../reposts/reposts';
import type { SimulatedOptions } from '../simulated/simulated';
import type { SocketsOptions } from '../sockets/sockets';

export const SCENARIOS = ['sockets', 'simulated', 'cost', 'reposts'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: ScenarioName[];
  quick: boolean;
  sockets: SocketsOptions;
  simulated: SimulatedOptions;
  cost: CostOptions;
  reposts: RepostsOptions;
  /** Where the JSON goes. */
  outDir: string;
}

export const USAGE = `usage: npm run bench -- [all|sockets|simulated|cost|reposts] [flags]

  --quick                 small sizes, for a check in about two minutes (BENCH_QUICK=1)
  --viewers N             sockets: WebSocket viewers (default 5000; quick 500)
  --sizes N,N             simulated: virtual viewers (default 10000,100000; quick 10000)
  --budgets B,B           simulated: LIVECAST_DELIVERY_BUDGET values at every size
                          (default 10000 and 7000 at 10,000 viewers, 10000 at 100,000)
  --updates N             simulated: updates the reporter publishes at 3/s (default 90; quick 30)
  --no-naive              skip the naive fan-out in both scenarios' comparisons
  --naive-max-viewers N   simulated: largest audience the naive fan-out runs at (default 10000; more needs a
                          bigger heap, which the bench then gives itself)
  --in-flight N           simulated: LIVECAST_WORKER_IN_FLIGHT for the livecast stage (default: the product's)
  --worker-processes N    sockets, simulated: child processes the stage runs its delivery workers in, as AWS
                          runs each invocation apart (default 2; 0 runs them in the stage's own process)
  --posts N               cost: posts per measured round (default 10000; quick 4000)
  --storm-viewers N       reposts: connections in the repost storm, each reposting 10 entries (default 1000; quick 300)
  --out DIR               where results go (default bench/results)
`;

function intList(raw: string, flag: string): number[] {
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${flag} takes positive integers, got ${raw}`);
  return list;
}

function int(raw: string | undefined, flag: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer of at least ${min}, got ${raw}`);
  return n;
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  let scenario = env.BENCH_SCENARIO ?? 'all';
  let quick = env.BENCH_QUICK === '1';
  let naive = env.BENCH_NAIVE !== '0';
  const takesValue = new Set(['--viewers', '--sizes', '--budgets', '--updates', '--naive-max-viewers', '--in-flight', '--worker-processes', '--posts', '--storm-viewers', '--out']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--no-naive') naive = false;
    else if (a === '--help' || a === '-h') throw new Error(USAGE);
    else if (takesValue.has(a)) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n\n${USAGE}`);
      flags.set(a, v);
    } else if (!a.startsWith('-')) scenario = a;
    else throw new Error(`unknown flag ${a}\n\n${USAGE}`);
  }
  const fromEnv = (flag: string, name: string) => flags.get(flag) ?? env[name];
  if (scenario !== 'all' && !(SCENARIOS as readonly string[]).includes(scenario)) throw new Error(`unknown scenario ${scenario}\n\n${USAGE}`);

  const viewersRaw = fromEnv('--viewers', 'BENCH_VIEWERS');
  const sizesRaw = fromEnv('--sizes', 'BENCH_SIZES');
  const budgetsRaw = fromEnv('--budgets', 'BENCH_BUDGETS');
  const updatesRaw = fromEnv('--updates', 'BENCH_UPDATES');
  const inFlightRaw = fromEnv('--in-flight', 'BENCH_IN_FLIGHT');
  const postsRaw = fromEnv('--posts', 'BENCH_POSTS');
  const naiveMaxRaw = fromEnv('--naive-max-viewers', 'BENCH_NAIVE_MAX_VIEWERS');
  const stormViewersRaw = fromEnv('--storm-viewers', 'BENCH_STORM_VIEWERS');
  const workerProcessesRaw = fromEnv('--worker-processes', 'BENCH_WORKER_PROCESSES');
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
      sizes: sizes.map((viewers) => ({ viewers, budgets: budgets ?? (viewers <= 10_000 && !quick ? [10_000, 7_000] : [10_000]) })),
      updates: updatesRaw ? int(updatesRaw, '--updates') : quick ? 30 : 90,
      perSecond: 3,
      workerProcesses,
      limits: { latencyMs: 25, rate: 10_000, burst: 5_000, seed: 20_260_701 },
      minDrainMs: quick ? 15_000 : 20_000,
      naive,
      naiveMaxViewers: naiveMaxRaw ? int(naiveMaxRaw, '--naive-max-viewers') : 10_000,
      naiveDrainMs: quick ? 10_000 : 30_000,
      naiveMaxPendingPosts: 30_000,
      env: inFlightRaw ? { LIVECAST_WORKER_IN_FLIGHT: String(int(inFlightRaw, '--in-flight')) } : {},
    },
    reposts: {
      viewers: stormViewersRaw ? int(stormViewersRaw, '--storm-viewers') : quick ? 300 : 1_000,
      entries: 10,
      rawInFlight: 64,
      workerProcesses,
    },
    cost: {
      posts: postsRaw ? int(postsRaw, '--posts') : quick ? 4_000 : 10_000,
      rounds: quick ? 3 : 5,
      inFlight: 64,
    },
  };
}
