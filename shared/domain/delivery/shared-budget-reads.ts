// The budget ledger as the delivery workers of one container read it: every worker reads every
// registration each refresh (3 s), so where one process hosts many workers (the local stage: 40+
// in each of two processes) one read answers all who ask within a short window. On AWS a container
// runs one invocation at a time and this changes nothing. Writes pass straight through.
//
// Measured reason (bench events --quick, 84 workers): the ledger's 4 Queries a refresh were ~110 of
// DynamoDB Local's calls a second, and a fifth of the refreshes timed out connecting to it.
import type { BudgetLedgerStore, BudgetRegistration } from '../ports';

export class SharedBudgetReads implements BudgetLedgerStore {
  private recent: { at: number; result: Promise<BudgetRegistration[]> } | undefined;

  constructor(
    private readonly store: BudgetLedgerStore,
    /**
     * How old a shared answer may be. It adds to the read lag the settle delay covers (a refresh
     * every 3 s, DynamoDB's eventually consistent lag, this: all within settleMs, 5 s).
     */
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  register(registration: BudgetRegistration, expiresAt: number): Promise<void> {
    return this.store.register(registration, expiresAt);
  }

  deregister(key: string, owner: string): Promise<void> {
    return this.store.deregister(key, owner);
  }

  registrations(): Promise<BudgetRegistration[]> {
    const now = this.now();
    // Age counts from when the read was sent: it cannot have seen a registration written after that.
    if (this.recent && now - this.recent.at < this.maxAgeMs) return this.recent.result;
    const result = this.store.registrations();
    const read = { at: now, result };
    this.recent = read;
    // A failed read is nobody's answer: the next caller asks again.
    result.catch(() => {
      if (this.recent === read) this.recent = undefined;
    });
    return result;
  }
}
