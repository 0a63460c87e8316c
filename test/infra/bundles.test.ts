// Every function the stacks deploy bundles, with the settings LivecastFunction gives esbuild (ESM for
// Node 24, dependencies and the SDK included, the require banner): one esbuild call for all of them,
// so the template tests can synthesize without bundling each function apart.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { expect, it } from 'vitest';
import { BUNDLE_TARGET, projectRoot, requireBanner } from '../../infra/livecast-function';
import { deliveryWorker, httpRoutes, scheduled, streamTriggers, wsAuthorizer, wsRoutes } from '../../shared/routes';

const entries = [...new Set([wsAuthorizer, ...wsRoutes, ...httpRoutes, deliveryWorker, ...streamTriggers, ...scheduled].map((def) => def.entry))];

it('bundles every deployed function as an ESM module that exports its handler', { timeout: 300_000 }, async () => {
  const outdir = mkdtempSync(join(tmpdir(), 'livecast-bundles-'));
  const result = await build({
    absWorkingDir: projectRoot,
    entryPoints: entries,
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: BUNDLE_TARGET,
    mainFields: ['module', 'main'],
    banner: { js: requireBanner },
    minify: true,
    logLevel: 'silent',
    metafile: true,
  });
  expect(result.errors).toEqual([]);
  expect(entries.length).toBeGreaterThan(20);
  for (const entry of entries) {
    const out = join(outdir, basename(entry).replace(/\.ts$/, '.js'));
    const code = readFileSync(out, 'utf8');
    expect(code, entry).toMatch(/export\s*\{[^}]*\bhandler\b/);
    // Nothing left to resolve at run time but Node's own modules (the SDK is bundled, pinned).
    const imports = [...code.matchAll(/\bfrom\s*"([^"]+)"/g)].map((m) => m[1]!);
    expect(imports.filter((i) => !i.startsWith('node:')), entry).toEqual([]);
    expect(statSync(out).size, entry).toBeLessThan(5 * 1024 * 1024);
  }
});
