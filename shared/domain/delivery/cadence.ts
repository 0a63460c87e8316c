// How often a delivery worker visits a connection owed nothing but live counts (stats). The one rule
// the worker follows and the cost model (scripts/lib/cost-model.ts) computes the bill from.
import { CONNECTION_SHARDS } from '../sharding';

export interface CountsCadence {
  /** This worker's share of the @connections budget, requests per second. */
  ratePerSecond: number;
  /** The shortest time between two counts-only visits (small audiences: fast counts cost little). */
  statsMinIntervalMs: number;
  /**
   * The longest, unless the @connections budget itself forces longer: how stale a viewer's counts
   * may get while nothing else is sent to it.
   */
  statsMaxIntervalMs: number;
  /**
   * This worker's share of the event's budget for counts-only messages, per second. A message costs
   * the same whatever it carries ($1.00 a million), so without a budget a big audience pays for
   * counts every few seconds: 10,000 viewers at one visit per ~3 s cost 8× the updates of a
   * two-hour ceremony with 300 updates (docs/cost.md).
   */
  countsPerSecond: number;
}

/** The event's budget for counts-only messages (every shard holds 1/CONNECTION_SHARDS of it). */
export const EVENT_COUNTS_PER_SECOND = 500;

export const defaultCountsCadence: Omit<CountsCadence, 'ratePerSecond'> = {
  statsMinIntervalMs: 1_000,
  statsMaxIntervalMs: 15_000,
  countsPerSecond: EVENT_COUNTS_PER_SECOND / CONNECTION_SHARDS,
};

/**
 * The interval between counts-only visits for a shard of `rows` connections: what the counts budget
 * allows (rows ÷ countsPerSecond), kept between the minimum and the freshness bound; and never
 * under 2 × rows ÷ rate, so counts take at most half the worker's @connections budget (past that
 * the budget, not the freshness bound, decides: 100,000 viewers at 7,000/s → 28.6 s).
 *
 * With `countsPerSecond` and `statsMaxIntervalMs` infinite this is the rule before issue 12:
 * max(statsMinIntervalMs, 2 × rows ÷ rate).
 */
export function countsIntervalMs(rows: number, c: CountsCadence): number {
  const byBudget = (1_000 * rows) / c.countsPerSecond;
  const bounded = Math.min(c.statsMaxIntervalMs, Math.max(c.statsMinIntervalMs, byBudget));
  return Math.max(bounded, (2_000 * rows) / c.ratePerSecond);
}

/** The cadence before issue 12 (for the cost script's "before" column): only the half-budget bound. */
export const uncappedCounts: Omit<CountsCadence, 'ratePerSecond'> = {
  statsMinIntervalMs: 1_000,
  statsMaxIntervalMs: Infinity,
  countsPerSecond: Infinity,
};
