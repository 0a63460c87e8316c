// What delivery accepts from a change-log line. Lines are written by this code, but one written by an
// older or broken writer (or edited by hand) must cost one skipped line, not a worker failing on it
// at every visit until a newer line replaces it.
import * as z from 'zod';
import { entrySchema, type Entry, type SpikeFrame, type StatsFrame } from '../protocol';
import type { LogLine } from '../ports';

const statsSchema = z.object({
  type: z.literal('stats'),
  eventId: z.string(),
  viewers: z.number().int().nonnegative(),
  // Keys are seqs; a client reads each as a number.
  reposts: z.record(z.string().regex(/^[1-9]\d{0,15}$/), z.number().int().nonnegative()),
  at: z.string().max(64),
});

const spikeSchema = z.object({
  type: z.literal('spike'),
  eventId: z.string(),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  peakPerSecond: z.number(),
  baselinePerSecond: z.number(),
  total: z.number(),
  topSeq: z.number().int(),
});

export type CheckedLine =
  | { ok: true; kind: 'update'; entry: Entry }
  | { ok: true; kind: 'stats'; frame: StatsFrame }
  | { ok: true; kind: 'spike'; frame: SpikeFrame }
  | { ok: false; reason: string };

/** The line's content if delivery can send it as it stands (sizes are checked where frames are made). */
export function checkLine(line: LogLine, eventId: string): CheckedLine {
  if ('entry' in line && line.entry !== undefined) {
    // The entry as stored goes out (fields a newer writer added included); the schema only vouches for it.
    return entrySchema.safeParse(line.entry).success
      ? { ok: true, kind: 'update', entry: line.entry }
      : { ok: false, reason: 'malformed entry' };
  }
  const frame: unknown = 'frame' in line ? line.frame : undefined;
  const type = typeof frame === 'object' && frame !== null && 'type' in frame ? String(frame.type) : 'none';
  const checked =
    type === 'stats' ? statsSchema.safeParse(frame) : type === 'spike' ? spikeSchema.safeParse(frame) : undefined;
  if (!checked) return { ok: false, reason: `unknown frame type ${JSON.stringify(type).slice(0, 40)}` };
  if (!checked.success) return { ok: false, reason: `malformed ${type} frame` };
  if (checked.data.eventId !== eventId) return { ok: false, reason: `a ${type} frame of another event` };
  // The stored frame, not the parsed copy: a field a newer writer added still reaches the clients.
  return checked.data.type === 'stats'
    ? { ok: true, kind: 'stats', frame: frame as StatsFrame }
    : { ok: true, kind: 'spike', frame: frame as SpikeFrame };
}
