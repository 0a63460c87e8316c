// The end of a run of `npm run simulate` or `npm run simulate -- --chaos`: its checks as a table.

/** What was checked, what was found, and whether that passes. */
export type Check = [what: string, result: string, ok: boolean];

/** Prints the checks as a table; the exit code: 1, naming the failed checks, or 0 with `allGood`. */
export function reportChecks(run: string, rows: readonly Check[], allGood: string): number {
  console.log('\n| what | result | ok |\n|:--|:--|:--|');
  for (const [what, result, ok] of rows) console.log(`| ${what} | ${result} | ${ok ? 'yes' : 'NO'} |`);
  const failed = rows.filter(([, , ok]) => !ok);
  if (failed.length > 0) {
    console.error(`\n${run}: FAILED — ${failed.map(([w]) => w).join('; ')}`);
    return 1;
  }
  console.log(`\n${run}: ${allGood}`);
  return 0;
}
