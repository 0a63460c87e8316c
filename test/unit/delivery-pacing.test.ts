// The budget ledger's switch: on by default (each worker's share of B comes from the ledger); with
// LIVECAST_BUDGET_LEDGER=off a worker is paced at a fixed B ÷ 16 as before issue 13 (the events
// benchmark's baseline); any other value is refused at start-up, naming the variable.
import { expect, it } from 'vitest';
import { tableNames } from '../../local/create-tables';
import { ConfigError, loadConfig, tableEnv } from '../../shared/config';
import { deliveryPacing } from '../../functions/lib/delivery-pacing';
import { defaultBudgetPolicy } from '../../shared/domain/delivery/budget-ledger';
import { FakeBudgetLedger } from '../support/fakes';

const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...tableEnv(tableNames('pacing')), ...extra });
const store = new FakeBudgetLedger();

it('shares the budget through the ledger by default: the worker gets the store, the whole policy, and B as its ceiling', () => {
  const config = loadConfig(env({ LIVECAST_DELIVERY_BUDGET: '10000' }));
  expect(config.budgetLedger).toBe(true);
  const pacing = deliveryPacing(config, store);
  expect(pacing.budget?.store).toBe(store);
  expect(pacing.budget?.policy).toEqual({ ...defaultBudgetPolicy, budget: 10_000 });
  expect(pacing.ratePerSecond).toBe(10_000);
  expect(loadConfig(env({ LIVECAST_BUDGET_LEDGER: 'on' })).budgetLedger).toBe(true);
});

it('with LIVECAST_BUDGET_LEDGER=off, paces each worker at B ÷ 16 and never touches the ledger', () => {
  const config = loadConfig(env({ LIVECAST_DELIVERY_BUDGET: '10000', LIVECAST_BUDGET_LEDGER: 'off' }));
  expect(config.budgetLedger).toBe(false);
  const pacing = deliveryPacing(config, store);
  expect(pacing.budget).toBeUndefined();
  expect(pacing.ratePerSecond).toBe(625);
});

it('refuses any other value, naming the setting', () => {
  for (const bad of ['false', '0', 'OFF', 'yes']) {
    expect(() => loadConfig(env({ LIVECAST_BUDGET_LEDGER: bad }))).toThrow(ConfigError);
    expect(() => loadConfig(env({ LIVECAST_BUDGET_LEDGER: bad }))).toThrow(/budgetLedger/);
  }
});
