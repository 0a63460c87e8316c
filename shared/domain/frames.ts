// Encoding server frames into messages: serialized once, coalesced into batches under the frame limit.
import { AppError } from './errors';
import { MAX_FRAME_BYTES, type ServerFrame } from './protocol';

const encoder = new TextEncoder();
const BATCH_OPEN = '{"type":"batch","frames":[';
const BATCH_CLOSE = ']}';
const BATCH_OVERHEAD = BATCH_OPEN.length + BATCH_CLOSE.length;

/** A frame serialized once, with its UTF-8 size. */
export interface Serialized {
  json: string;
  bytes: number;
}

export const serialize = (frame: ServerFrame): Serialized => {
  const json = JSON.stringify(frame);
  return { json, bytes: Buffer.byteLength(json, 'utf8') };
};

/**
 * Packs serialized frames, in order, into as few messages as fit under `maxBytes` each: one frame
 * alone goes as itself, several as a `batch`. Each message says the index of the last frame it holds.
 */
export function pack(frames: readonly Serialized[], maxBytes: number = MAX_FRAME_BYTES): { bytes: Uint8Array; last: number }[] {
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
    if (frame.bytes + BATCH_OVERHEAD > maxBytes) {
      // Cannot happen with the protocol's limits (2,000 characters a text); refuse rather than break a socket.
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

/** Frames to messages under the frame limit, each frame serialized exactly once. */
export const encodeFrames = (frames: readonly ServerFrame[], maxBytes: number = MAX_FRAME_BYTES): Uint8Array[] =>
  pack(frames.map(serialize), maxBytes).map((m) => m.bytes);

export const encodeFrame = (frame: ServerFrame): Uint8Array => encoder.encode(JSON.stringify(frame));
