// What a bundle carries, by npm package, from esbuild's metafile (the bundles test and `npm run bench -- bundles`).
import type { Metafile } from 'esbuild';

/** The package an input of the bundle comes from (the innermost node_modules), or `(own)` for this repository's code. */
export function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return '(own)';
  const [scope, name] = input.slice(at + 'node_modules/'.length).split('/');
  return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? input);
}

/** Bytes each package contributes to one output (after minifying), largest first. */
export function bytesByPackage(output: Metafile['outputs'][string]): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const pkg = packageOf(input);
    bytes.set(pkg, (bytes.get(pkg) ?? 0) + bytesInOutput);
  }
  return new Map([...bytes].sort((a, b) => b[1] - a[1]));
}

/** The file name esbuild gives an entry's output in `outdir` (`functions/ws-ping.ts` → `ws-ping.js`). */
export const outputName = (entry: string): string => `${entry.split('/').pop()!.replace(/\.ts$/, '')}.js`;

/** The output of one entry in a metafile built with `outdir`. */
export function outputOf(metafile: Metafile, entry: string): Metafile['outputs'][string] {
  const key = Object.keys(metafile.outputs).find((o) => o.endsWith(`/${outputName(entry)}`));
  if (!key) throw new Error(`no output for ${entry} in the metafile`);
  return metafile.outputs[key]!;
}
