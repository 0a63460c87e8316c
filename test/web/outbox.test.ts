import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbox, type KeyValueStore } from '../../web/lib/outbox';

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
    expect(outbox.list()[0]).toMatchObject({ state: 'failed', error: { code: 'conflict', message: 'entry 3 is deleted' } });
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
});
