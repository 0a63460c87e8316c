// Encoding server frames into messages: serialized once, coalesced into batches under the frame limit.
import { AppError } from './errors';
import { MAX_FRAME_BYTES, type ServerFrame, type StatsFrame } from './protocol';

const encoder = new TextEncoder();
const BATCH_OPEN = '{"type":"batch","frames":[';
const BATCH_CLOSE = ']}';
/** What wrapping a frame in a `batch` adds: a frame within maxBytes − this can always be sent. */
export const BATCH_OVERHEAD = BATCH_OPEN.length + BATCH_CLOSE.length;

/** A frame serialized once, with its UTF-8 size. */
export interface Serialized {
  json: string;
  bytes: number;
}

export const serialize = (frame: ServerFrame): Serialized => {
  const json = JSON.stringify(frame);
  return { json, bytes: Buffer.byteLength(json, 'utf8') };
};

/** Whether a frame can go out under the limit, alone or batched with others. */
export const fits = (frame: Serialized, maxBytes: number = MAX_FRAME_BYTES): boolean =>
  frame.bytes + BATCH_OVERHEAD <= maxBytes;

/**
 * A stats frame as stats frames that each fit under `maxBytes`: the `reposts` totals shared out
 * among them, each with the same viewers, `at` and changeNo. A v1 client applies each frame's
 * totals to the seqs it names, so the parts together say what the whole would have (a storm over
 * thousands of entries in one window is more than one 32 KB frame of totals: ~10 bytes a seq).
 */
export function splitStats(frame: StatsFrame, maxBytes: number = MAX_FRAME_BYTES): Serialized[] {
  const whole = serialize(frame);
  if (fits(whole, maxBytes)) return [whole];
  // Sized exactly: the frame without totals, plus `"seq":n` per total and a comma between two.
  const room = maxBytes - BATCH_OVERHEAD - serialize({ ...frame, reposts: {} }).bytes;
  const parts: Serialized[] = [];
  let part: Record<string, number> = {};
  let used = 0;
  for (const [seq, n] of Object.entries(frame.reposts)) {
    const size = Buffer.byteLength(JSON.stringify(seq), 'utf8') + 1 + JSON.stringify(n).length;
    if (size > room)
      throw new AppError('internal', `a stats total of ${size} bytes cannot fit in a ${maxBytes}-byte frame`);
    if (used > 0 && used + 1 + size > room) {
      parts.push(serialize({ ...frame, reposts: part }));
      part = {};
      used = 0;
    }
    used += used > 0 ? size + 1 : size;
    part[seq] = n;
  }
  parts.push(serialize({ ...frame, reposts: part }));
  return parts;
}

/**
 * Packs serialized frames, in order, into as few messages as fit under `maxBytes` each: one frame
 * alone goes as itself, several as a `batch`. Each message says the index of the last frame it holds.
 */
export function pack(
  frames: readonly Serialized[],
  maxBytes: number = MAX_FRAME_BYTES,
): { bytes: Uint8Array; last: number }[] {
  const messages: { bytes: Uint8Array; last: number }[] = [];
  let group: string[] = [];
  let groupBytes = 0;

  const flush = (last: number) => {
    if (group.length === 0) return;
    const text = group.length === 1 ? group[0]! : BATCH_OPEN + group.join(',') + BATCH_CLOSE;
    messages.push({ bytes: encoder.encode(text), last });
    group = [];
    groupBytes = 0;
  };

  frames.forEach((frame, i) => {
    if (!fits(frame, maxBytes)) {
      // Callers send only frames that fit (an entry's 2,000 characters are 12 KB at worst; stats are
      // split): refuse rather than break a socket.
      throw new AppError('internal', `a frame of ${frame.bytes} bytes exceeds the ${maxBytes}-byte frame limit`);
    }
    // Size as if batched: a comma between frames plus the batch wrapper.
    if (group.length > 0 && groupBytes + 1 + frame.bytes + BATCH_OVERHEAD > maxBytes) flush(i - 1);
    groupBytes += group.length > 0 ? frame.bytes + 1 : frame.bytes;
    group.push(frame.json);
  });
  flush(frames.length - 1);
  return messages;
}

/** Frames to messages under the frame limit, each frame serialized exactly once; stats split if they must be. */
export const encodeFrames = (frames: readonly ServerFrame[], maxBytes: number = MAX_FRAME_BYTES): Uint8Array[] =>
  pack(
    frames.flatMap((f) => (f.type === 'stats' ? splitStats(f, maxBytes) : [serialize(f)])),
    maxBytes,
  ).map((m) => m.bytes);

export const encodeFrame = (frame: ServerFrame): Uint8Array => encoder.encode(JSON.stringify(frame));
