// The budget ledger's reads shared by the workers of one container: one read answers every worker
// that asks within maxAgeMs; writes are never shared; a failed read is not kept.
import { describe, expect, it } from 'vitest';
import { SharedBudgetReads } from '../../shared/domain/delivery/shared-budget-reads';
import { FakeBudgetLedger } from '../support/fakes';

function counted() {
  const store = new FakeBudgetLedger();
  let reads = 0;
  const read = store.registrations.bind(store);
  store.registrations = () => {
    reads++;
    return read();
  };
  return { store, reads: () => reads };
}

describe('shared budget ledger reads', () => {
  it('answer every worker asking within maxAgeMs with one read, and read afresh after it', async () => {
    let now = 0;
    const { store, reads } = counted();
    const shared = new SharedBudgetReads(store, 500, () => now);
    await shared.register({ key: 'a#0', owner: 'o', rows: 5, beatAt: 0, since: 0 }, 10_000);
    await Promise.all(Array.from({ length: 40 }, () => shared.registrations()));
    expect(reads()).toBe(1);
    now = 499;
    await shared.registrations();
    expect(reads()).toBe(1);
    now = 500;
    await shared.register({ key: 'b#0', owner: 'o', rows: 1, beatAt: 500, since: 500 }, 10_500);
    expect((await shared.registrations()).map((r) => r.key).sort()).toEqual(['a#0', 'b#0']);
    expect(reads()).toBe(2);
    expect(store.items.size).toBe(2); // every write reached the store
  });

  it('keep no failed read: the next worker asks the store again', async () => {
    const { store, reads } = counted();
    const shared = new SharedBudgetReads(store, 500, () => 0);
    store.failing = true;
    await expect(shared.registrations()).rejects.toThrow('ledger unavailable');
    store.failing = false;
    await expect(shared.registrations()).resolves.toEqual([]);
    expect(reads()).toBe(2);
  });
});
