import { describe, expect, it } from 'vitest';
import { encodeFrames } from '../../shared/domain/frames';
import { MAX_FRAME_BYTES, type ServerFrame, type StatsFrame, type UpdateFrame } from '../../shared/domain/protocol';

const update = (seq: number, text = `entry ${seq}`): UpdateFrame => ({
  type: 'update',
  eventId: 'ev1',
  entry: {
    seq,
    rev: 1,
    kind: 'text',
    text,
    pinned: false,
    deleted: false,
    createdAt: 't',
    updatedAt: 't',
    reposts: 0,
    images: [],
  },
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

  it('splits a stats frame over the limit into stats frames that each fit and together carry every total once', () => {
    // A storm over 6,000 entries in one window: ~60 KB of totals in one frame.
    const reposts = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [String(i + 1), (i * 7_919) % 100_000]));
    const stats: StatsFrame = {
      type: 'stats',
      eventId: 'ev1',
      viewers: 12_345,
      reposts,
      at: '2026-11-29T10:00:00.000Z',
      changeNo: 99,
    };
    const synced: ServerFrame = { type: 'synced', lastSeq: 1 };
    for (const max of [4 * 1024, MAX_FRAME_BYTES]) {
      const messages = encodeFrames([update(1), stats, synced], max);
      for (const m of messages) expect(m.byteLength).toBeLessThanOrEqual(max);
      const frames = flatten(messages);
      expect(frames[0]).toEqual(update(1));
      expect(frames.at(-1)).toEqual(synced);
      const parts = frames.slice(1, -1) as StatsFrame[];
      expect(parts.length).toBeGreaterThan(1);
      // Every part is a whole v1 stats frame: the same viewers, at and changeNo, a share of the totals.
      for (const p of parts) expect({ ...p, reposts: {} }).toEqual({ ...stats, reposts: {} });
      expect(parts.reduce((n, p) => n + Object.keys(p.reposts).length, 0)).toBe(6_000);
      expect(Object.assign({}, ...parts.map((p) => p.reposts))).toEqual(reposts);
    }
  });
});
