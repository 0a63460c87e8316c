// Encoding server frames into messages: serialized once, coalesced into batches under the frame limit.
import { AppError } from './errors';
import { MAX_FRAME_BYTES, type ServerFrame } from './protocol';

const encoder = new TextEncoder();
const BATCH_OPEN = '{"type":"batch","frames":[';
const BATCH_CLOSE = ']}';
const BATCH_OVERHEAD = BATCH_OPEN.length + BATCH_CLOSE.length;

/**
 * Packs frames, in order, into as few messages as fit under `maxBytes` each: one frame alone goes as
 * itself, several as a `batch`. Each frame is serialized exactly once.
 */
export function encodeFrames(frames: readonly ServerFrame[], maxBytes: number = MAX_FRAME_BYTES): Uint8Array[] {
  const messages: Uint8Array[] = [];
  let group: string[] = [];
  let groupBytes = 0;

  const flush = () => {
    if (group.length === 0) return;
    const text = group.length === 1 ? group[0]! : BATCH_OPEN + group.join(',') + BATCH_CLOSE;
    messages.push(encoder.encode(text));
    group = [];
    groupBytes = 0;
  };

  for (const frame of frames) {
    const json = JSON.stringify(frame);
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes + BATCH_OVERHEAD > maxBytes) {
      // Cannot happen with the protocol's limits (2,000 characters a text); refuse rather than break a socket.
      throw new AppError('internal', `a ${frame.type} frame of ${bytes} bytes exceeds the ${maxBytes}-byte frame limit`);
    }
    // Size as if batched: a comma between frames plus the batch wrapper.
    const added = bytes + (group.length > 0 ? 1 : 0);
    if (group.length > 0 && groupBytes + added + BATCH_OVERHEAD > maxBytes) flush();
    groupBytes += group.length > 0 ? bytes + 1 : bytes;
    group.push(json);
  }
  flush();
  return messages;
}

export const encodeFrame = (frame: ServerFrame): Uint8Array => encoder.encode(JSON.stringify(frame));
