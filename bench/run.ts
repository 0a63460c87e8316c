// `npm run bench`: runs the benchmarks (real sockets, simulated AWS, cost per delivery, the repost storm, flooders against honest viewers, function bundles), prints a table per scenario with its same-run baseline, and saves the JSON under bench/results/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { join, resolve } from 'node:path';
import { type DynamoLocal, startDynamoLocal } from '../local/dynamodb-local';
import { runCost } from './cost/cost';
import { type BenchOptions, parseArgs, type ScenarioName } from './lib/args';
import { ROOT } from './lib/child';
import { describeMachine } from './lib/machine';
import type { ScenarioReport, Target } from './lib/report';
import { render, type Table } from './lib/table';
import { runSimulated } from './simulated/simulated';
import { runSockets } from './sockets/sockets';
import { runReposts } from './reposts/reposts';
import { runAbuse } from './abuse/abuse';
import { runBundles } from './bundles/bundles';
import { runEvents } from './events/events';
import { runConnectWave } from './connect-wave/connect-wave';

// The SDK warns that its releases after January 2027 need Node 22; the project pins its versions.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A run that goes on past this is stuck: every scenario bounds its own waits well inside it. */
const WATCHDOG_MS = 40 * 60_000;

const log = (line: string) => console.log(line);

/** The naive fan-out past 10,000 viewers holds GBs of pending SDK sends (see args.ts). */
const BIG_HEAP_MB = 8_192;

/** Runs this same command again with a bigger heap when the options need one; returns its exit code, or undefined to go on here. */
function withBigHeapIfNeeded(opts: BenchOptions): number | undefined {
  const needs =
    opts.scenarios.includes('simulated') &&
    opts.simulated.naive &&
    opts.simulated.sizes.some((s) => s.viewers > 10_000 && s.viewers <= opts.simulated.naiveMaxViewers);
  if (!needs || getHeapStatistics().heap_size_limit >= BIG_HEAP_MB * 2 ** 20 * 0.9) return undefined;
  log(`bench: restarting with --max-old-space-size=${BIG_HEAP_MB} for the naive fan-out at large sizes`);
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, `--max-old-space-size=${BIG_HEAP_MB}`, ...process.argv.slice(1)],
    { stdio: 'inherit' },
  );
  return child.status ?? 1;
}

async function runScenario(
  name: ScenarioName,
  opts: BenchOptions,
  dynamo: () => Promise<string>,
  tag: string,
): Promise<ScenarioReport> {
  switch (name) {
    case 'sockets':
      return runSockets(await dynamo(), tag, opts.sockets, log);
    case 'simulated':
      return runSimulated(await dynamo(), tag, opts.simulated, log);
    case 'cost':
      return runCost(opts.cost, log);
    case 'reposts':
      return runReposts(await dynamo(), tag, opts.reposts, log);
    case 'abuse':
      return runAbuse(await dynamo(), tag, opts.abuse, log);
    case 'bundles':
      return runBundles(opts.bundles, log);
    case 'events':
      return runEvents(await dynamo(), tag, opts.events, log);
    case 'connect-wave':
      return runConnectWave(tag, opts.connectWave, log);
  }
}

function targetsTable(targets: Target[]): Table {
  return {
    title: 'Targets',
    columns: ['scenario', 'what', 'target', 'measured', 'met'],
    rows: targets.map((t) => [
      t.scenario,
      t.name,
      t.target,
      t.measured,
      t.met ? 'yes' : 'NO — see docs/performance.md, "Bounds"',
    ]),
  };
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 2;
  }
  const relaunched = withBigHeapIfNeeded(opts);
  if (relaunched !== undefined) return relaunched;
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${WATCHDOG_MS / 60_000} minutes; giving up`);
    process.exit(1);
  }, WATCHDOG_MS).unref();

  const startedAt = new Date();
  const machine = describeMachine();
  log(`livecast bench — ${opts.scenarios.join(', ')}${opts.quick ? ' (quick)' : ''}`);
  log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, open files ${machine.openFilesLimit}; commit ${machine.gitCommit.slice(0, 12)}${machine.gitDirtyFiles ? ` + ${machine.gitDirtyFiles} changed files` : ''}`,
  );

  let local: DynamoLocal | undefined;
  // A fresh in-memory DynamoDB Local per scenario (each stage gets its own tables in it): one that
  // has served a scenario before writes markedly slower (seen: 100,000 connection rows at 330/s
  // after the sockets scenario, ~2,100/s fresh), which measured the previous scenario's leftovers.
  // Every scenario warms the JVM's JIT up itself before it measures.
  const dynamo = async () => {
    local ??= await startDynamoLocal({ port: 0 });
    return local.endpoint;
  };
  const tag = startedAt.getTime().toString(36);
  const reports: ScenarioReport[] = [];
  const failures: { scenario: string; error: string }[] = [];
  try {
    for (const name of opts.scenarios) {
      log(`\n== ${name} ==`);
      try {
        const report = await runScenario(name, opts, dynamo, tag).finally(async () => {
          await local?.stop();
          local = undefined;
        });
        reports.push(report);
        for (const t of report.tables) log(`\n${render(t)}`);
        log(`\n(${name}: ${report.seconds.toFixed(0)} s)`);
      } catch (err) {
        const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        failures.push({ scenario: name, error });
        console.error(`bench: ${name} failed: ${error}`);
      }
    }
  } finally {
    await local?.stop();
  }

  const targets = reports.flatMap((r) => r.targets);
  if (targets.length > 0) log(`\n${render(targetsTable(targets))}`);

  const finishedAt = new Date();
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    seconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    quick: opts.quick,
    machine,
    options: opts,
    targets,
    failures,
    scenarios: Object.fromEntries(reports.map((r) => [r.name, { seconds: r.seconds, tables: r.tables, data: r.data }])),
  };
  const outDir = resolve(ROOT, opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  const file = join(outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(outDir, 'latest.json'), json);
  log(`\nsaved ${file} (and latest.json) — ${result.seconds.toFixed(0)} s in all`);
  clearTimeout(watchdog);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
