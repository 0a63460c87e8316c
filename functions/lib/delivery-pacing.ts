// How a delivery worker is paced: its share of the account's budget through the ledger, or — with
// LIVECAST_BUDGET_LEDGER=off, the behaviour before issue 13 — a fixed B ÷ 16 whatever else runs.
import type { Config } from '../../shared/config';
import { defaultBudgetPolicy } from '../../shared/domain/delivery/budget-ledger';
import type { WorkerDeps, WorkerOptions } from '../../shared/domain/delivery/worker';
import type { BudgetLedgerStore } from '../../shared/domain/ports';
import { CONNECTION_SHARDS } from '../../shared/domain/sharding';

export function deliveryPacing(
  config: Pick<Config, 'deliveryBudget' | 'budgetLedger'>,
  store: BudgetLedgerStore,
): { budget: WorkerDeps['budget']; ratePerSecond: WorkerOptions['ratePerSecond'] } {
  if (!config.budgetLedger) {
    // Kept for `npm run bench -- events`, which runs it beside the ledger: K events offer K × B.
    return { budget: undefined, ratePerSecond: config.deliveryBudget / CONNECTION_SHARDS };
  }
  return {
    // The account's budget, shared with every worker of every event in proportion to their rows.
    budget: { store, policy: { ...defaultBudgetPolicy, budget: config.deliveryBudget } },
    // A ceiling only: the ledger allots the share (a shard holding most of the account's viewers may take most of B).
    ratePerSecond: config.deliveryBudget,
  };
}
