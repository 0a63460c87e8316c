import { describe, expect, it } from 'vitest';
import { DirectFanout, limiter } from '../../shared/domain/fanout';
import { encodeFrames } from '../../shared/domain/frames';
import type { ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import { FakeConnections, FakeGateway, silentLog } from '../support/fakes';

const update = (seq: number, text = `entry ${seq}`): UpdateFrame => ({
  type: 'update',
  eventId: 'ev1',
  entry: { seq, rev: 1, kind: 'text', text, pinned: false, deleted: false, createdAt: 't', updatedAt: 't', reposts: 0 },
});

const decode = (m: Uint8Array) => JSON.parse(new TextDecoder().decode(m)) as ServerFrame;
const flatten = (messages: Uint8Array[]) =>
  messages.map(decode).flatMap((f) => (f.type === 'batch' ? f.frames : [f]));

async function audience(n: number, eventId = 'ev1') {
  const connections = new FakeConnections(4, 3);
  for (let i = 0; i < n; i++) await connections.add({ eventId, connectionId: `c${i}`, role: 'viewer', connectedAt: 't' });
  return connections;
}

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

describe('DirectFanout', () => {
  it('delivers every message to every connection of the event, in order, and no one else', async () => {
    const connections = await audience(25);
    await connections.add({ eventId: 'other', connectionId: 'stranger', role: 'viewer', connectedAt: 't' });
    const gateway = new FakeGateway();
    const fanout = new DirectFanout({ connections, gateway, log: silentLog, concurrency: 5, shards: 4 });

    const report = await fanout.broadcast('ev1', [update(1), update(2)]);
    expect(report).toMatchObject({ connections: 25, gone: 0, failed: 0 });
    for (let i = 0; i < 25; i++) expect(gateway.framesOf(`c${i}`)).toEqual([update(1), update(2)]);
    expect(gateway.framesOf('stranger')).toEqual([]);
  });

  it('removes gone connections and keeps going past a failing one', async () => {
    const connections = await audience(10);
    const gateway = new FakeGateway();
    gateway.gone.add('c3');
    gateway.failing.add('c7');
    const fanout = new DirectFanout({ connections, gateway, log: silentLog, concurrency: 3, shards: 4 });

    const report = await fanout.broadcast('ev1', [update(1)]);
    expect(report).toMatchObject({ connections: 10, gone: 1, failed: 1 });
    expect(connections.rows.has('c3')).toBe(false);
    expect(connections.rows.has('c7')).toBe(true);
    for (const i of [0, 1, 2, 4, 5, 6, 8, 9]) expect(gateway.framesOf(`c${i}`)).toEqual([update(1)]);
  });

  it('never has more posts in flight than its concurrency', async () => {
    const connections = await audience(40);
    const gateway = new FakeGateway();
    await new DirectFanout({ connections, gateway, log: silentLog, concurrency: 4, shards: 4 }).broadcast('ev1', [update(1)]);
    expect(gateway.maxInFlight).toBeLessThanOrEqual(4);
    expect(gateway.maxInFlight).toBeGreaterThan(1);
  });
});

describe('limiter', () => {
  it('hands a freed slot to a waiter without letting a newcomer overtake the bound', async () => {
    const limit = limiter(2);
    let active = 0;
    let peak = 0;
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setImmediate(r));
      active--;
    };
    const first = Array.from({ length: 5 }, () => limit(task));
    await first[0];
    await Promise.all([...first, ...Array.from({ length: 5 }, () => limit(task))]);
    expect(peak).toBe(2);
  });
});
