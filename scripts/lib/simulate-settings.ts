// The settings of `npm run simulate` (and of its --chaos run): a flag, else its SIM_* variable, else
// the default; validated once by a zod schema, as shared/config.ts does the functions' configuration.
import { parseArgs } from 'node:util';
import * as z from 'zod';

export const USAGE =
  'usage: npm run simulate [-- --viewers N (default 1000)] [--pace MS between moments (default 400)]\n' +
  '       npm run simulate -- --chaos [--viewers N (default 200)] [--pace MS]   (a stage of its own, with faults; see scripts/chaos.ts)';

const FLAGS = {
  viewers: { type: 'string' },
  pace: { type: 'string' },
  chaos: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const WHOLE = 'takes a positive whole number';
const positiveWhole = z.coerce.number({ error: WHOLE }).int({ error: WHOLE }).min(1, { error: WHOLE });

const schema = z
  .object({
    chaos: z.boolean(),
    viewers: positiveWhole.optional(),
    paceMs: positiveWhole.default(400),
    /** chaos: the fault proxy's seed; by default one from the clock. */
    seed: z.coerce.number({ error: 'takes a number' }).optional(),
  })
  .transform(({ chaos, viewers, paceMs, seed }) => ({
    chaos,
    // A chaos run starts a stage of its own, worker processes and all: fewer phones unless asked.
    viewers: viewers ?? (chaos ? 200 : 1_000),
    paceMs,
    seed: seed ?? Date.now() % 100_000,
  }));

export type SimulateSettings = z.output<typeof schema>;

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/**
 * The settings from the command line and the environment; `'help'` when --help was asked for.
 * Unknown flags, a flag without its value and values the schema refuses throw a SettingsError
 * that names the flag (or variable) and what it got.
 */
export function simulateSettings(argv: readonly string[], env: NodeJS.ProcessEnv): SimulateSettings | 'help' {
  let values: { viewers?: string; pace?: string; chaos?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new SettingsError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (values.help) return 'help';
  const chaos = values.chaos === true;
  // Where each value came from, to name it in an error.
  const from = {
    viewers: values.viewers !== undefined ? '--viewers' : 'SIM_VIEWERS',
    paceMs: values.pace !== undefined ? '--pace' : 'SIM_PACE_MS',
    seed: 'LIVECAST_FAULT_SEED',
  };
  const input = {
    chaos,
    viewers: values.viewers ?? (env.SIM_VIEWERS || undefined),
    paceMs: values.pace ?? (env.SIM_PACE_MS || undefined),
    // Read only for a chaos run: a plain one injects no faults.
    seed: chaos ? env.LIVECAST_FAULT_SEED || undefined : undefined,
  };
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const key = issue.path[0] as keyof typeof from;
    return `${from[key]} ${issue.message}, got ${input[key]}`;
  });
  throw new SettingsError(lines.join('; '));
}
