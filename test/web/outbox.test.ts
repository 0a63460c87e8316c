import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbox, retryDelayMs, type KeyValueStore } from '../../web/lib/outbox';

class MemoryStorage implements KeyValueStore {
  readonly map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
}

function harness(storage = new MemoryStorage()) {
  const sent: { clientId: string; action: string }[] = [];
  let open = false;
  const outbox = new Outbox({
    key: 'k',
    storage,
    send: (f) => {
      if (!open) return false;
      sent.push(f as { clientId: string; action: string });
      return true;
    },
    now: () => Date.now(), // faked by vi.useFakeTimers
  });
  return {
    outbox,
    sent,
    storage,
    setOpen: (o: boolean) => (open = o),
    advance: (ms: number) => vi.advanceTimersByTime(ms),
  };
}

describe('Outbox (the reporter console loses nothing and duplicates nothing)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('holds updates while offline and sends them in order, one at a time, once connected', () => {
    const { outbox, sent, setOpen } = harness();
    const a = outbox.add({ action: 'publish', text: 'a', kind: 'text' });
    const b = outbox.add({ action: 'publish', text: 'b', kind: 'key' });
    expect(sent).toHaveLength(0);
    expect(outbox.pending).toBe(2);
    setOpen(true);
    outbox.connected();
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId]);
    outbox.receive({ type: 'ack', clientId: a.clientId, seq: 1, rev: 1 });
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId, b.clientId]);
    expect(sent[1]).toMatchObject({ action: 'publish', text: 'b', kind: 'key' });
  });

  it('re-sends a request that was in flight when the connection dropped, with the same clientId', () => {
    const { outbox, sent, setOpen, advance } = harness();
    setOpen(true);
    const a = outbox.add({ action: 'publish', text: 'a', kind: 'text' });
    expect(sent).toHaveLength(1);
    setOpen(false); // dropped before the ack
    setOpen(true);
    outbox.connected();
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId, a.clientId]);
    advance(42);
    const settled = outbox.receive({ type: 'ack', clientId: a.clientId, seq: 7, rev: 1 });
    expect(settled).toMatchObject({ state: 'acked', seq: 7, rev: 1, rttMs: 42, sends: 2 });
    // The first send's late ack changes nothing.
    expect(outbox.receive({ type: 'ack', clientId: a.clientId, seq: 7, rev: 1 })).toBeUndefined();
  });

  it('asks again when no ack comes back in time', () => {
    const { outbox, sent, setOpen } = harness();
    setOpen(true);
    const a = outbox.add({ action: 'publish', text: 'a', kind: 'text' });
    vi.advanceTimersByTime(10_000);
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId, a.clientId]);
  });

  it('keeps what was not acked across a reload', () => {
    const storage = new MemoryStorage();
    const first = harness(storage);
    first.setOpen(true);
    const a = first.outbox.add({ action: 'publish', text: 'in flight', kind: 'text' });
    first.outbox.add({ action: 'publish', text: 'queued', kind: 'text' });

    const second = harness(storage);
    expect(second.outbox.list().map((i) => [i.clientId, i.state])).toEqual([
      [a.clientId, 'waiting'],
      [expect.any(String), 'waiting'],
    ]);
    second.setOpen(true);
    second.outbox.connected();
    expect(second.sent[0]?.clientId).toBe(a.clientId);
  });

  it('fails a refused request with its message, and retries it as the same request on demand', () => {
    const { outbox, sent, setOpen } = harness();
    setOpen(true);
    const a = outbox.add({ action: 'edit', seq: 3, text: 'x' });
    const b = outbox.add({ action: 'publish', text: 'next', kind: 'text' });
    outbox.receive({ type: 'error', code: 'conflict', message: 'entry 3 is deleted', clientId: a.clientId });
    expect(outbox.list()[0]).toMatchObject({
      state: 'failed',
      error: { code: 'conflict', message: 'entry 3 is deleted' },
    });
    // The failure does not hold the queue.
    expect(sent.at(-1)?.clientId).toBe(b.clientId);
    outbox.receive({ type: 'ack', clientId: b.clientId, seq: 4, rev: 1 });
    outbox.retry(a.clientId);
    expect(sent.at(-1)?.clientId).toBe(a.clientId);
    outbox.discard(a.clientId); // only failed items can be discarded
    expect(outbox.list()).toHaveLength(2);
  });

  it('waits after a transient refusal, then goes again, holding later requests back', () => {
    const { outbox, sent, setOpen } = harness();
    setOpen(true);
    const a = outbox.add({ action: 'publish', text: 'a', kind: 'text' });
    outbox.add({ action: 'publish', text: 'b', kind: 'text' });
    outbox.receive({ type: 'error', code: 'rate_limited', message: 'slow down', clientId: a.clientId });
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId, a.clientId]);
  });

  it("backs off exponentially on rate_limited, never sooner than the server's retryAfterMs", () => {
    const { outbox, sent, setOpen } = harness();
    setOpen(true);
    const a = outbox.add({ action: 'publish', text: 'a', kind: 'text' });
    // The server asks for 7 s: nothing goes before that, whatever the backoff would allow.
    outbox.receive({
      type: 'error',
      code: 'rate_limited',
      message: 'slow down',
      clientId: a.clientId,
      retryAfterMs: 7_000,
    });
    vi.advanceTimersByTime(6_900);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(200);
    expect(sent).toHaveLength(2);
    // Refused again and again without a hint: the waits grow (at least half of 2 s, 4 s, 8 s …).
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = sent.length;
      outbox.receive({ type: 'error', code: 'rate_limited', message: 'slow down', clientId: a.clientId });
      let waited = 0;
      while (sent.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      gaps.push(waited);
    }
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThanOrEqual(1_000 * 2 ** (i + 1) * 0.5);
    expect(gaps.at(-1)!).toBeGreaterThan(gaps[0]!);
  });
});

describe('retryDelayMs', () => {
  it('doubles per send up to 30 s, jittered in its upper half, and honours retryAfterMs', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n, undefined, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(retryDelayMs(3, undefined, () => 0)).toBe(2_000);
    expect(retryDelayMs(1, 12_000, () => 1)).toBe(12_000);
  });
});
