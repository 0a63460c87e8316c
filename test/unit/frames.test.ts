import { describe, expect, it } from 'vitest';
import { encodeFrames } from '../../shared/domain/frames';
import type { ServerFrame, UpdateFrame } from '../../shared/domain/protocol';

const update = (seq: number, text = `entry ${seq}`): UpdateFrame => ({
  type: 'update',
  eventId: 'ev1',
  entry: { seq, rev: 1, kind: 'text', text, pinned: false, deleted: false, createdAt: 't', updatedAt: 't', reposts: 0 },
});
const decode = (m: Uint8Array) => JSON.parse(new TextDecoder().decode(m)) as ServerFrame;
const flatten = (messages: Uint8Array[]) => messages.map(decode).flatMap((f) => (f.type === 'batch' ? f.frames : [f]));

describe('encodeFrames', () => {
  it('sends one frame as itself, several as one batch, in order', () => {
    expect(encodeFrames([update(1)]).map(decode)).toEqual([update(1)]);
    const [only, ...rest] = encodeFrames([update(1), update(2), { type: 'synced', lastSeq: 2 }]);
    expect(rest).toEqual([]);
    expect(decode(only!)).toEqual({ type: 'batch', frames: [update(1), update(2), { type: 'synced', lastSeq: 2 }] });
  });

  it('never exceeds the byte limit and never drops or reorders a frame', () => {
    const frames = Array.from({ length: 60 }, (_, i) => update(i + 1, '香鱼'.repeat(400 + ((i * 37) % 600))));
    for (const max of [8 * 1024, 16 * 1024, 32 * 1024]) {
      const messages = encodeFrames(frames, max);
      for (const m of messages) expect(m.byteLength).toBeLessThanOrEqual(max);
      expect(flatten(messages)).toEqual(frames);
    }
  });

  it('refuses a frame that alone cannot fit', () => {
    expect(() => encodeFrames([update(1, 'x'.repeat(5000))], 4096)).toThrow(/exceeds/);
  });
});
