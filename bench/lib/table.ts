// Plain-text tables for the terminal and for docs/performance.md (the same text is valid Markdown).

export type Cell = string | number | undefined;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  notes?: string[];
}

export function fmt(v: Cell, digits = 0): string {
  if (v === undefined || (typeof v === 'number' && Number.isNaN(v))) return '—';
  if (typeof v === 'string') return v;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Numbers (and the placeholders that stand for them) align right; words align left. */
const numeric = /^(?:[-+]?[\d,.]+(?:[ %×]|[a-z]{0,5})?|—|[\d.,/? ]+)$/;

/** A Markdown table padded so it also reads well in a terminal. */
export function render(t: Table): string {
  const cells = t.rows.map((r) => t.columns.map((_, i) => fmt(r[i])));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const right = t.columns.map((_, i) => i > 0 && cells.every((r) => numeric.test(r[i]!)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const out = [
    `### ${t.title}`,
    '',
    line(t.columns),
    `|${widths.map((w, i) => (right[i] ? '-' : ':') + '-'.repeat(w) + (right[i] ? ':' : '-')).join('|')}|`,
  ];
  for (const r of cells) out.push(line(r));
  for (const n of t.notes ?? []) out.push('', n);
  return out.join('\n');
}
