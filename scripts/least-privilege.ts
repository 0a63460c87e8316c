// The least-privilege table of docs/architecture.md, made from shared/routes.ts. `npx tsx
// scripts/least-privilege.ts --write` rewrites it in place after a route's needs change;
// test/infra/stacks.test.ts fails while the docs and the routes disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  connectionMethods,
  deliveryWorker,
  type FunctionDef,
  httpRoutes,
  scheduled,
  type StreamTriggerDef,
  streamTriggers,
  wsAuthorizer,
  wsRoutes,
} from '../shared/routes';

export const allFunctionDefs: readonly FunctionDef[] = [
  wsAuthorizer,
  ...wsRoutes,
  ...httpRoutes,
  deliveryWorker,
  ...streamTriggers,
  ...scheduled,
];

export const DOC = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));
const BLOCK = /(<!-- least-privilege:start -->\n)([\s\S]*?)(\n<!-- least-privilege:end -->)/;

/** The table, one row per function. */
export function leastPrivilegeTable(defs: readonly FunctionDef[] = allFunctionDefs): string {
  const rows = defs.map((def) => {
    const dynamo = def.needs.tables
      .map(
        ([t, access]) =>
          `${t.id}: ${typeof access === 'string' ? access : access.map((a) => a.replace('dynamodb:', '')).join(', ')}`,
      )
      .concat((def.needs.indexQueries ?? []).map(([t, i]) => `${t.id} index ${i.name}: Query`))
      .join('; ');
    const methods = connectionMethods(def.id, def.needs).join(', ');
    const stream = (def as Partial<StreamTriggerDef>).stream;
    const other = [
      stream ? `reads the ${stream.table.id} stream` : '',
      def.needs.adminKey ? 'reads the admin key' : '',
      def.needs.startWorkers ? 'starts workers' : '',
      def.needs.images?.includes('presignUploads') ? 'presigns photo uploads (s3:PutObject on uploads/*)' : '',
      def.needs.images?.includes('publishImages')
        ? 'publishes photos (s3:GetObject on uploads/* and images/*, s3:PutObject on images/*)'
        : '',
    ].filter(Boolean);
    return `| ${def.id} | ${dynamo || '—'} | ${methods || '—'} | ${other.join('; ') || '—'} |`;
  });
  return ['| function | DynamoDB actions, per table | @connections | other |', '|---|---|---|---|', ...rows].join('\n');
}

/** The table as docs/architecture.md has it now. */
export function documentedTable(doc = readFileSync(DOC, 'utf8')): string | undefined {
  return BLOCK.exec(doc)?.[2];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { write: { type: 'boolean', default: false } } });
  const doc = readFileSync(DOC, 'utf8');
  if (!BLOCK.test(doc)) throw new Error(`${DOC} has no least-privilege block`);
  const next = doc.replace(
    BLOCK,
    (_m, start: string, _old: string, end: string) => `${start}${leastPrivilegeTable()}${end}`,
  );
  if (values.write) writeFileSync(DOC, next);
  else process.stdout.write(`${leastPrivilegeTable()}\n`);
}
