// Every function the stacks deploy bundles, with the settings LivecastFunction gives esbuild (ESM for
// Node 24, dependencies and the SDK included, the require banner): one esbuild call for all of them,
// so the template tests can synthesize without bundling each function apart. From the same build's
// metafile: each function carries only the SDK clients its grants in shared/routes.ts let it use,
// and stays under a size ceiling.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { deployedBuildOptions, projectRoot } from '../../infra/livecast-function';
import {
  deliveryWorker,
  type FunctionDef,
  httpRoutes,
  type Needs,
  scheduled,
  streamTriggers,
  wsAuthorizer,
  wsRoutes,
} from '../../shared/routes';
import { bytesByPackage, outputOf } from '../support/bundle-packages';

const defs: FunctionDef[] = [wsAuthorizer, ...wsRoutes, ...httpRoutes, deliveryWorker, ...streamTriggers, ...scheduled];
const entries = [...new Set(defs.map((def) => def.entry))];
const outdir = mkdtempSync(join(tmpdir(), 'livecast-bundles-'));
const outFile = (entry: string) => join(outdir, basename(entry).replace(/\.ts$/, '.js'));
let metafile: Metafile;

beforeAll(async () => {
  const result = await build({
    absWorkingDir: projectRoot,
    entryPoints: entries,
    outdir,
    ...deployedBuildOptions(),
    logLevel: 'silent',
    metafile: true,
  });
  expect(result.errors).toEqual([]);
  metafile = result.metafile;
}, 300_000);

it('bundles every deployed function as an ESM module that exports its handler', () => {
  expect(entries.length).toBeGreaterThan(20);
  for (const entry of entries) {
    const code = readFileSync(outFile(entry), 'utf8');
    expect(code, entry).toMatch(/export\s*\{[^}]*\bhandler\b/);
    // Nothing left to resolve at run time but Node's own modules (the SDK is bundled, pinned).
    const imports = [...code.matchAll(/\bfrom\s*"([^"]+)"/g)].map((m) => m[1]!);
    expect(
      imports.filter((i) => !i.startsWith('node:')),
      entry,
    ).toEqual([]);
  }
});

/**
 * The packages a grant brings, and so the packages a function without it must not carry: a client it
 * could only ever call to be refused by IAM is dead weight on every cold start.
 */
const grantPackages: ReadonlyArray<{
  grant: string;
  granted: (needs: Needs, def: FunctionDef) => boolean;
  packages: readonly string[];
}> = [
  {
    grant: 'manageConnections',
    granted: (n) => Boolean(n.manageConnections),
    packages: ['@aws-sdk/client-apigatewaymanagementapi'],
  },
  { grant: 'startWorkers', granted: (n) => Boolean(n.startWorkers), packages: ['@aws-sdk/client-lambda'] },
  {
    grant: 'images',
    granted: (n) => Boolean(n.images?.length),
    packages: ['@aws-sdk/client-s3', '@aws-sdk/s3-presigned-post', '@aws-sdk/client-ssm'],
  },
  {
    grant: 'adminKey or viewerSecret',
    granted: (n) => Boolean(n.adminKey || n.viewerSecret),
    packages: ['@aws-sdk/client-secrets-manager'],
  },
  // Powertools Parameters caches the admin key (shared/adapters/admin-key.ts) and the photos' base URL
  // (functions/lib/images.ts); the viewer secret is read once, without it.
  {
    grant: 'adminKey or images',
    granted: (n) => Boolean(n.adminKey || n.images?.length),
    packages: ['@aws-lambda-powertools/parameters'],
  },
  // X-Ray (Powertools Tracer and the X-Ray SDK under it): only the functions traced (shared/routes.ts `tracing`).
  {
    grant: 'tracing',
    granted: (_n, def) => Boolean(def.tracing),
    packages: ['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core'],
  },
];

/**
 * Ceilings in KB, from the sizes measured when the container was split (docs/performance.md,
 * "Bundles"): 474 KB for a DynamoDB-only function, +15 the management API, +15–21 Secrets Manager,
 * +71 Lambda. About 15% over what was measured: a ceiling against a client or a whole library coming
 * back in (the all-in-one container made every function 940 KB), not a target to tune against.
 * Something every function must carry raises `base` by what `npm run bench -- bundles` measures
 * (Powertools Logger + Metrics bundled alone: 36 KB; with Tracer and its aws-xray-sdk-core: 159 KB).
 */
const CEILING_KB = {
  base: 560,
  manageConnections: 30,
  secrets: 30,
  startWorkers: 90,
  tracing: 140,
  images: 260,
  feeds: 45,
};
/**
 * The feed functions carry the `feed` library and what it writes XML with (xml-js, which brings the
 * sax parser): ~37 KB measured (http-feed.ts 562 KB against http-get-event.ts 525 KB). No other
 * function may carry them.
 */
const FEED_ENTRIES: readonly string[] = ['functions/http-feed.ts'];
const FEED_PACKAGES = ['feed', 'xml-js', 'sax'];
const ceilingKB = ({ needs, tracing, entry }: FunctionDef) =>
  CEILING_KB.base +
  (FEED_ENTRIES.includes(entry) ? CEILING_KB.feeds : 0) +
  (needs.manageConnections ? CEILING_KB.manageConnections : 0) +
  (needs.adminKey || needs.viewerSecret ? CEILING_KB.secrets : 0) +
  (needs.startWorkers ? CEILING_KB.startWorkers : 0) +
  // S3, its presigner and SSM (the photos' base URL): HttpImages 741 KB against 514 KB for GET /events/{id},
  // WsEdit 776 KB with image-size too (issue 14, measured with these build options; 659 KB before SSM).
  (needs.images?.length ? CEILING_KB.images : 0) +
  // Tracer and aws-xray-sdk-core: publish 654 KB, the worker 736 KB with it (measured after the merge of issue 12's tracing).
  (tracing ? CEILING_KB.tracing : 0);

describe.each(defs.map((def) => [def.id, def] as const))('%s', (_id, def) => {
  const packages = () => bytesByPackage(outputOf(metafile, def.entry));

  it('carries the SDK clients of its grants in shared/routes.ts, and no other', () => {
    const carried = packages();
    for (const { grant, granted, packages: brought } of grantPackages) {
      for (const pkg of brought) {
        const why = `${def.entry} ${granted(def.needs, def) ? 'is granted' : 'is not granted'} ${grant}: ${pkg}`;
        if (granted(def.needs, def)) expect(carried.has(pkg), why).toBe(true);
        else
          expect(
            carried.get(pkg),
            `${why} is bundled; import the part that brings it only where it is used (functions/lib/container.ts)`,
          ).toBeUndefined();
      }
    }
  });

  it('bundles zod without its 40 translations (`import * as z from "zod"`, never `import { z }`)', () => {
    // `import { z } from 'zod'` keeps the whole namespace object, every locale included: 444 KB of
    // zod instead of 93 KB. Error messages stay English either way (zod's classic API sets `en`).
    const locales = Object.keys(outputOf(metafile, def.entry).inputs).filter((input) =>
      /node_modules\/zod\/.*\/locales\/(?!en\.js$)[^/]+\.js$/.test(input),
    );
    expect(locales, def.entry).toEqual([]);
    expect(packages().get('zod') ?? 0, def.entry).toBeLessThan(150 * 1024);
  });

  it('carries the feed library only if it writes feeds', () => {
    const carried = packages();
    for (const pkg of FEED_PACKAGES)
      expect(carried.has(pkg), `${def.entry}: ${pkg}`).toBe(FEED_ENTRIES.includes(def.entry));
  });

  it('stays under its size ceiling', () => {
    const size = statSync(outFile(def.entry)).size;
    expect(size / 1024, `${def.entry}: ${(size / 1024).toFixed(0)} KB`).toBeLessThan(ceilingKB(def));
  });
});
