// Scenario "bundles": every deployed function's bundle (size, what is in it) and its import time — the
// module evaluation of a cold start — each bundle imported in a fresh `node`, several times, median.
// Baselines built in the same run: the all-in-one layout every function had before the container was
// split (every part and SDK client, zod's whole namespace), and a bare middy handler (Node's floor).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { deployedBuildOptions } from '../../infra/livecast-function';
import {
  deliveryWorker,
  type FunctionDef,
  httpRoutes,
  scheduled,
  streamTriggers,
  wsAuthorizer,
  wsRoutes,
} from '../../shared/routes';
import { bytesByPackage, outputName, outputOf } from '../../test/support/bundle-packages';
import { ROOT } from '../lib/child';
import type { ScenarioReport } from '../lib/report';
import { median } from '../lib/stats';
import type { Table } from '../lib/table';

export interface BundlesOptions {
  /** Fresh `node` processes per bundle; the median is reported. */
  imports: number;
}

const run = promisify(execFile);

/** The layout before the split: one module that builds everything, imported by every function. */
const ALL_IN_ONE = `
import { z } from 'zod';
import { adminKey } from './functions/lib/admin-key';
import { deliveryGateway } from './functions/lib/connections-api';
import { container } from './functions/lib/container';
import { live } from './functions/lib/live';
import { workers } from './functions/lib/workers';
import { viewerSecret } from './shared/adapters/viewer-secret';
import { wsErrors } from './functions/lib/middleware';
import { rateLimit } from './functions/lib/rate-limit';
import middy from '@middy/core';
const everything = () => [z, container(), live(), workers(), adminKey(), deliveryGateway(), viewerSecret(container().config)];
export const handler = middy(async () => ({ statusCode: 200, body: String(everything().length) })).use(wsErrors()).use(rateLimit());
`;

/** The floor: Node, the ESM loader and middy, nothing of livecast's. */
const BARE = `
import middy from '@middy/core';
export const handler = middy(async () => ({ statusCode: 200 }));
`;

const BASELINES: Record<string, string> = { 'all-in-one': ALL_IN_ONE, bare: BARE };

/** The baselines as entries of their own, resolved from the repository's root, with no file written there. */
const baselines: Plugin = {
  name: 'baselines',
  setup(b) {
    b.onResolve({ filter: /^baseline:/ }, (args) => ({
      path: args.path.slice('baseline:'.length),
      namespace: 'baseline',
    }));
    b.onLoad({ filter: /.*/, namespace: 'baseline' }, (args) => ({
      contents: BASELINES[args.path],
      loader: 'ts',
      resolveDir: ROOT,
    }));
  },
};

/** The SDK clients a bundle carries, by the short name of their package. */
const CLIENTS = [
  'client-dynamodb',
  'client-apigatewaymanagementapi',
  'client-lambda',
  'client-secrets-manager',
] as const;
const SHORT: Record<(typeof CLIENTS)[number], string> = {
  'client-dynamodb': 'dynamodb',
  'client-apigatewaymanagementapi': 'management',
  'client-lambda': 'lambda',
  'client-secrets-manager': 'secrets',
};

/**
 * From just before `import()` to its settling, inside a fresh node: the module's evaluation, as wall
 * time and as the process's CPU time (user + system). On a shared machine the wall time also holds
 * the waits for a core; the CPU time is the work itself.
 */
async function importOnce(file: string): Promise<{ wallMs: number; cpuMs: number }> {
  const script = [
    'const c = process.cpuUsage(); const t = performance.now();',
    `await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const wall = performance.now() - t; const u = process.cpuUsage(c);',
    'process.stdout.write(JSON.stringify({ wallMs: wall, cpuMs: (u.user + u.system) / 1000 }));',
  ].join(' ');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '' },
  });
  const measured = JSON.parse(stdout) as { wallMs: number; cpuMs: number };
  if (!Number.isFinite(measured.wallMs) || !Number.isFinite(measured.cpuMs))
    throw new Error(`importing ${file} printed ${JSON.stringify(stdout)}`);
  return measured;
}

export async function runBundles(opts: BundlesOptions, log: (line: string) => void): Promise<ScenarioReport> {
  const started = performance.now();
  const defs: FunctionDef[] = [
    wsAuthorizer,
    ...wsRoutes,
    ...httpRoutes,
    deliveryWorker,
    ...streamTriggers,
    ...scheduled,
  ];
  const work = mkdtempSync(join(tmpdir(), 'livecast-bench-bundles-'));
  const outdir = join(work, 'out');
  try {
    log(`bundles: building ${defs.length} functions and 2 baselines with the deployed settings`);
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: [
        ...defs.map((d) => ({ in: d.entry, out: d.entry.split('/').pop()!.replace(/\.ts$/, '') })),
        ...Object.keys(BASELINES).map((name) => ({ in: `baseline:${name}`, out: name })),
      ],
      plugins: [baselines],
      outdir,
      ...deployedBuildOptions(),
      logLevel: 'silent',
      metafile: true,
    });
    const rows = [
      ...defs.map((d) => ({ name: d.id, entry: d.entry })),
      { name: 'all-in-one (before)', entry: 'all-in-one' },
      { name: 'bare middy handler', entry: 'bare' },
    ].map((r) => {
      const output = outputOf(result.metafile, r.entry);
      const file = join(outdir, outputName(r.entry));
      const packages = bytesByPackage(output);
      return {
        ...r,
        file,
        bytes: statSync(file).size,
        packages,
        clients: CLIENTS.filter((c) => packages.has(`@aws-sdk/${c}`)).map((c) => SHORT[c]),
        times: [] as number[],
        cpu: [] as number[],
      };
    });

    // Round after round over every bundle, so load that comes and goes on the machine hits them alike.
    log(`bundles: importing each bundle in a fresh node, ${opts.imports} times`);
    for (let round = 0; round < opts.imports; round++) {
      for (const r of rows) {
        const { wallMs, cpuMs } = await importOnce(r.file);
        r.times.push(wallMs);
        r.cpu.push(cpuMs);
      }
    }
    const measured = rows.map((r) => ({ ...r, importMs: median(r.times), cpuMs: median(r.cpu) }));
    const before = measured.find((r) => r.name.startsWith('all-in-one'))!;
    const kb = (b: number) => Math.round(b / 1024);
    const table: Table = {
      title: `Function bundles: size and import time (median of ${opts.imports} fresh node processes, Node ${process.versions.node})`,
      columns: [
        'function',
        'KB',
        'vs all-in-one',
        'SDK clients',
        'zod KB',
        'own KB',
        'import ms',
        'import CPU ms',
        'CPU vs all-in-one',
      ],
      rows: measured.map((r) => [
        r.name,
        kb(r.bytes),
        `${((r.bytes / before.bytes) * 100).toFixed(0)}%`,
        r.clients.join(', ') || '—',
        kb(r.packages.get('zod') ?? 0),
        kb(r.packages.get('(own)') ?? 0),
        r.importMs.toFixed(0),
        r.cpuMs.toFixed(0),
        `${((r.cpuMs / before.cpuMs) * 100).toFixed(0)}%`,
      ]),
      notes: [
        '"all-in-one (before)": every part of the container, every SDK client and `import { z } from "zod"` in one bundle, as every function was before the split; "bare": middy and nothing else. Import time is `await import()` of the bundle, measured inside the fresh process (Node\'s own start is not in it): wall time, and the CPU time spent in it (less swayed by other work on the machine).',
      ],
    };
    const common = [...measured[0]!.packages]
      .slice(0, 6)
      .map(([p, b]) => `${p} ${kb(b)}`)
      .join(', ');
    table.notes!.push(`Largest parts of ${measured[0]!.name}: ${common} KB.`);
    return {
      name: 'bundles',
      tables: [table],
      targets: [],
      data: {
        imports: opts.imports,
        node: process.versions.node,
        functions: measured.map((r) => ({
          name: r.name,
          entry: r.entry,
          bytes: r.bytes,
          importMs: r.importMs,
          importRunsMs: r.times,
          importCpuMs: r.cpuMs,
          importCpuRunsMs: r.cpu,
          clients: r.clients,
          packages: Object.fromEntries(r.packages),
        })),
      },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
