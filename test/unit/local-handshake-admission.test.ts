// The local gateway's handshake admission on its own: the queue behind the handshakes in flight,
// and the 503s past its length or its wait (the gateway fixes them at 512 and 5 s).
import { describe, expect, it } from 'vitest';
import { type Admission, HandshakeAdmission } from '../../local/handshake-admission';

const admission = (maxQueued: number, maxQueueWaitMs = 5_000) =>
  new HandshakeAdmission({ ratePerSecond: 0, maxInFlight: 1, maxQueued, maxQueueWaitMs });

const release = (a: Admission) => {
  if (!a.admitted) throw new Error(`refused: ${a.reason}`);
  a.release();
};

describe('HandshakeAdmission', () => {
  it('queues past the slots in flight, refuses 503 past the queue, and hands a freed slot to the next in line', async () => {
    const a = admission(1);
    const running = a.admit();
    const waiting = a.admit();

    expect(running).toMatchObject({ admitted: true });
    expect(waiting).toBeInstanceOf(Promise);
    expect(a.admit()).toMatchObject({ admitted: false, status: 503 });
    expect(a.load()).toEqual({ inFlight: 1, queued: 1 });

    release(running as Admission);
    const next = await waiting;
    expect(next).toMatchObject({ admitted: true });
    expect(a.load()).toEqual({ inFlight: 1, queued: 0 });
    release(next);
    expect(a.load()).toEqual({ inFlight: 0, queued: 0 });
  });

  it('refuses 503 a handshake that waited maxQueueWaitMs for a slot', async () => {
    const a = admission(8, 50);
    const running = a.admit();

    const waited = await a.admit();

    expect(waited).toMatchObject({ admitted: false, status: 503 });
    expect(a.load()).toEqual({ inFlight: 1, queued: 0 });
    release(running as Admission);
  });

  it('refuses everything waiting when the gateway closes', async () => {
    const a = admission(8);
    expect(a.admit()).toMatchObject({ admitted: true });
    const waiting = a.admit();

    a.refuseQueued();

    expect(await waiting).toMatchObject({ admitted: false, status: 503, reason: 'the gateway is closing' });
  });
});
