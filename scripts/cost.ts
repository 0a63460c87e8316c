// `npm run cost`: what one live event costs on AWS, per component, at list prices
// (scripts/lib/cost-model.ts; docs/cost.md explains the model).
import { parseArgs } from 'node:util';
import { render, type Table } from '../bench/lib/table';
import { type CadenceName, type Ceremony, ceremonyBill } from './lib/cost-model';
import { PRICES, priceRows } from './lib/prices';

const usage = `usage: npm run cost -- [--viewers N] [--hours H] [--updates N] [--reposts N] [--budget B] [--cadence after|before|both]

  --viewers N    audience, connected for the whole event (default 10000)
  --hours H      length of the event (default 2)
  --updates N    reporter's publishes, spread evenly (default 300)
  --reposts N    reposts, spread evenly (default 10000)
  --budget B     @connections requests/s for delivery, LIVECAST_DELIVERY_BUDGET (default 7000)
  --cadence C    live-count cadence: after (today's, cost-aware), before (issue 12's starting point), both (default)`;

function fail(line: string): never {
  console.error(`cost: ${line}\n\n${usage}`);
  process.exit(2);
}

function positive(name: string, raw: string, integer: boolean, min0 = false): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !min0) || (integer && !Number.isInteger(n))) {
    fail(
      `--${name} must be a ${min0 ? 'non-negative' : 'positive'} ${integer ? 'whole number' : 'number'}, not "${raw}"`,
    );
  }
  return n;
}

function options(): { ceremony: Ceremony; cadences: CadenceName[] } {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        viewers: { type: 'string', default: '10000' },
        hours: { type: 'string', default: '2' },
        updates: { type: 'string', default: '300' },
        reposts: { type: 'string', default: '10000' },
        budget: { type: 'string', default: '7000' },
        cadence: { type: 'string', default: 'both' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(usage);
    process.exit(0);
  }
  const ceremony: Ceremony = {
    viewers: positive('viewers', v.viewers, true),
    hours: positive('hours', v.hours, false),
    updates: positive('updates', v.updates, true),
    reposts: positive('reposts', v.reposts, true, true),
    budget: positive('budget', v.budget, false),
  };
  if (ceremony.viewers > 10_000_000) fail('--viewers is at most 10,000,000');
  if (ceremony.hours > 24) fail('--hours is at most 24');
  const cadences: CadenceName[] =
    v.cadence === 'both'
      ? ['before', 'after']
      : v.cadence === 'before' || v.cadence === 'after'
        ? [v.cadence]
        : fail(`--cadence must be after, before or both, not "${v.cadence}"`);
  return { ceremony, cadences };
}

const { ceremony, cadences } = options();
const bills = cadences.map((c) => ceremonyBill(ceremony, c));
const money = (d: number) => `$${d < 0.01 && d > 0 ? d.toFixed(4) : d.toFixed(2)}`;
const qty = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 3 });
const head =
  cadences.length === 2 ? ['before: quantity', 'before: $', 'after: quantity', 'after: $'] : ['quantity', '$'];

const title = `${ceremony.viewers.toLocaleString('en-US')} viewers, ${ceremony.hours} h, ${ceremony.updates} updates, ${ceremony.reposts.toLocaleString('en-US')} reposts, delivery budget ${ceremony.budget.toLocaleString('en-US')}/s`;
const tables: Table[] = [
  {
    title: `Messages: ${title}`,
    columns: ['', ...cadences.map((c) => `${c} cadence`)],
    rows: [
      ['counts-only visit interval', ...bills.map((b) => `${(b.perViewer.intervalMs / 1000).toFixed(1)} s`)],
      ['update messages', ...bills.map((b) => qty(b.updateMessages))],
      ['live-count messages', ...bills.map((b) => qty(b.countMessages))],
      [
        'all delivered ÷ update messages',
        ...bills.map((b) => `${((b.updateMessages + b.countMessages) / b.updateMessages).toFixed(2)}×`),
      ],
      [
        'per viewer-hour: updates / counts / total',
        ...bills.map(
          (b) =>
            `${qty(b.perViewer.updateMessages / ceremony.hours)} / ${qty(b.perViewer.countMessages / ceremony.hours)} / ${qty((b.perViewer.updateMessages + b.perViewer.countMessages) / ceremony.hours)}`,
        ),
      ],
      ['counts at most this stale', ...bills.map((b) => `${(b.perViewer.maxStalenessMs / 1000).toFixed(1)} s`)],
      ['inbound messages and route responses', ...bills.map((b) => qty(b.otherMessages))],
      ['connection-minutes', ...bills.map((b) => qty(b.connectionMinutes))],
    ],
  },
  {
    title: 'Lambda',
    columns: ['function', 'memory MB', ...cadences.flatMap((c) => [`${c}: invocations`, `${c}: GB-s`])],
    rows: bills[0]!.lambda.map((f, i) => [
      f.fn,
      f.memoryMB,
      ...bills.flatMap((b) => [qty(b.lambda[i]!.invocations), qty(b.lambda[i]!.gbSeconds)]),
    ]),
  },
  {
    title: 'DynamoDB (on-demand request units)',
    columns: ['what', ...cadences.flatMap((c) => [`${c}: WRU`, `${c}: RRU`])],
    rows: bills[0]!.dynamo.map((d, i) => [
      d.what,
      ...bills.flatMap((b) => [qty(b.dynamo[i]!.wru), qty(b.dynamo[i]!.rru)]),
    ]),
  },
  {
    title: `The bill (list prices, ${PRICES.region}, as of ${PRICES.asOf})`,
    columns: ['component', 'what', 'unit', ...head],
    rows: [
      ...bills[0]!.lines.map((l, i) => [
        l.component,
        l.what,
        l.unit,
        ...bills.flatMap((b) => [qty(b.lines[i]!.quantity), money(b.lines[i]!.dollars)]),
      ]),
      ['total', '', '', ...bills.flatMap((b) => [undefined, money(b.total)])],
    ],
    notes: [
      "Computed by scripts/lib/cost-model.ts from the delivery worker's own cadence (shared/domain/delivery/cadence.ts) and options; handler durations and item sizes are estimates (ASSUMED there). No free tier, no storage, PITR or data transfer. See docs/cost.md.",
    ],
  },
  {
    title: `Prices (public list prices, ${PRICES.region}, ${PRICES.asOf})`,
    columns: ['item', 'price'],
    rows: priceRows(),
  },
];
console.log(tables.map(render).join('\n\n'));
