// The budget ledger as the delivery workers of one container read it: every worker reads every
// registration each refresh (3 s), so where one process hosts many workers (the local stage: 40+
// in each of two processes) one read answers all who ask within a short window. On AWS a container
// runs one invocation at a time and this changes nothing. Writes pass straight through.
//
// Measured reason (bench events --quick, 84 workers): the ledger's 4 Queries a refresh were ~110 of
// DynamoDB Local's calls a second, and a fifth of the refreshes timed out connecting to it.
import type { BudgetLedgerStore, BudgetRegistration, Clock } from '../ports';
import { RecentReads } from './recent-reads';

export class SharedBudgetReads implements BudgetLedgerStore {
  private readonly reads: RecentReads<BudgetRegistration[]>;

  constructor(
    private readonly store: BudgetLedgerStore,
    /**
     * How old a shared answer may be. It adds to the read lag the settle delay covers (a refresh
     * every 3 s, DynamoDB's eventually consistent lag, this: all within settleMs, 5 s).
     */
    maxAgeMs: number,
    now: Clock = Date.now,
  ) {
    this.reads = new RecentReads(maxAgeMs, now);
  }

  register(registration: BudgetRegistration, expiresAt: number): Promise<void> {
    return this.store.register(registration, expiresAt);
  }

  deregister(key: string, owner: string): Promise<void> {
    return this.store.deregister(key, owner);
  }

  registrations(): Promise<BudgetRegistration[]> {
    return this.reads.get('', () => this.store.registrations());
  }
}
