// Builds the pages (live, report, replay, organiser, embed) and the landing page into a folder of static files: one bundled, minified script per page
// (esbuild), one stylesheet, and an HTML shell per page. `npm start` serves the folder; the CDK
// stack uploads it to S3 behind CloudFront. `/config.json` (where the APIs are) is not built: the
// local stage answers it, and the stack writes it next to the files at deploy time.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const WEB = resolve(fileURLToPath(new URL('.', import.meta.url)));

export const PAGES = [
  { name: 'live', title: 'livecast — live' },
  { name: 'report', title: 'livecast — reporter console' },
  { name: 'replay', title: 'livecast — replay' },
  { name: 'organiser', title: 'livecast — organiser' },
  { name: 'embed', title: 'livecast — live' },
] as const;
export type PageName = (typeof PAGES)[number]['name'];

/** The folder `npm start` serves and the stack deploys. */
export const DEFAULT_WEB_OUT = resolve(WEB, '..', 'dist', 'web');

// Scripts and styles come only from the pages' own origin; a text that somehow became markup could
// still not run a script or load one. connect-src is open to the APIs, which sit on other origins when deployed.
// img-src: photos come from the pages' own origin (/images/*), and the console previews the
// photos it is about to upload from blob: URLs.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' https: wss: http: ws:; base-uri 'none'; form-action 'none'";
// A fish for the tab (inline, so no request can 404).
const ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="30" fill="#0b6e4f"/><path d="M14 32c8-10 22-12 32-4l8-6v20l-8-6c-10 8-24 6-32-4z" fill="#fff"/><circle cx="22" cy="30" r="2.5" fill="#0b6e4f"/></svg>')}`;

const shell = (title: string, script: string, css: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="color-scheme" content="light">
<title>${title}</title>
<link rel="icon" href="${ICON}">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<noscript>This page needs JavaScript. 此页面需要启用 JavaScript。</noscript>
<div id="app"></div>
</body>
</html>
`;

/** Builds into `outDir` (emptied first); returns the files written, relative to it. */
export function buildWeb(outDir: string = DEFAULT_WEB_OUT, opts: { minify?: boolean } = {}): string[] {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  const result = buildSync({
    entryPoints: {
      ...Object.fromEntries(PAGES.map((p) => [p.name, join(WEB, p.name, 'main.ts')])),
      home: join(WEB, 'home', 'main.ts'),
      app: join(WEB, 'styles.css'),
    },
    outdir: join(outDir, 'assets'),
    // Content-hashed names: a page shell never loads a script from another build, whatever a
    // browser or the CDN still holds; the shells themselves are always revalidated.
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'safari15', 'firefox100'],
    minify: opts.minify ?? true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const files = outputs.map(([f]) => resolve(f).slice(resolve(outDir).length + 1));
  /** The built file (its name under assets/) of an entry point. */
  const built = (entry: string, ext: string) => {
    const hit = outputs.find(
      ([f, o]) => o.entryPoint !== undefined && resolve(o.entryPoint) === resolve(entry) && f.endsWith(ext),
    );
    if (!hit) throw new Error(`web build: no output for ${entry}`);
    return basename(hit[0]);
  };
  const css = built(join(WEB, 'styles.css'), '.css');
  for (const p of PAGES) {
    mkdirSync(join(outDir, p.name), { recursive: true });
    writeFileSync(join(outDir, p.name, 'index.html'), shell(p.title, built(join(WEB, p.name, 'main.ts'), '.js'), css));
    files.push(`${p.name}/index.html`);
  }
  // The landing page, `/`: a script too, so it speaks the reader's language like the others.
  writeFileSync(join(outDir, 'index.html'), shell('livecast', built(join(WEB, 'home', 'main.ts'), '.js'), css));
  files.push('index.html');
  return files;
}

// `tsx web/build.ts [outDir]`
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? DEFAULT_WEB_OUT);
  const files = buildWeb(out);
  console.log(`web: ${files.length} files in ${out}`);
}
