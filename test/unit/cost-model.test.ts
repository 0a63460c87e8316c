// The cost model against the real delivery worker: the messages it predicts per viewer are the
// messages the worker posts, on a virtual clock, for the same timeline.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  cadences,
  ceremonyBill,
  ceremonyTimeline,
  eventShareOfBudget,
  viewerMessages,
} from '../../scripts/lib/cost-model';
import { defaultBudgetPolicy } from '../../shared/domain/delivery/budget-ledger';
import { runVirtualCeremony } from '../support/virtual-ceremony';

/** Stated tolerance: within 10% or 2 messages per viewer, whichever is more. */
const close = (counted: number, modelled: number) => Math.abs(counted - modelled) <= Math.max(2, 0.1 * modelled);

describe('cost model', () => {
  const rate = 7_000 / 16;

  // Minutes of the ceremony: an update every 24 s, a repost or more every second. (The uncapped
  // cadence posts 8× as much: three minutes of it are enough.)
  for (const { rows, cadence, minutes } of [
    { rows: 625, cadence: 'after', minutes: 6 },
    { rows: 625, cadence: 'before', minutes: 3 },
    { rows: 60, cadence: 'after', minutes: 6 },
  ] as const) {
    it(`predicts the messages the worker sends: ${rows} viewers in the shard, ${cadence} cadence`, async () => {
      const timeline = ceremonyTimeline({ hours: minutes / 60, updates: (minutes * 60) / 24, reposts: minutes * 70 });
      const model = viewerMessages(timeline, rows, rate, cadences[cadence]);
      const run = await runVirtualCeremony({
        rows,
        updates: timeline.updates,
        stats: timeline.stats,
        options: { ratePerSecond: rate, ...cadences[cadence] },
      });
      const counted = [...run.received.values()].map((got) => ({
        updates: got.filter((m) => m.hasUpdate).length,
        counts: got.filter((m) => !m.hasUpdate).length,
      }));
      expect(counted).toHaveLength(rows);
      const mean = (k: 'updates' | 'counts') => counted.reduce((s, c) => s + c[k], 0) / rows;
      expect(mean('updates')).toBe(model.updateMessages);
      expect(
        close(mean('counts'), model.countMessages),
        `counted ${mean('counts')} counts-only messages per viewer, modelled ${model.countMessages}`,
      ).toBe(true);
    }, 60_000);
  }

  it("paces each shard at its budget-ledger share (the event alone: B less the newcomers' reserve, ÷ 16), not B ÷ 16", () => {
    expect(eventShareOfBudget(7_000, 625)).toBe((7_000 * (1 - defaultBudgetPolicy.newcomerReserve)) / 16);
    // The connection path is a single row write each way now (no transaction on the event's item).
    const bill = ceremonyBill({ viewers: 10_000, hours: 2, updates: 300, reposts: 10_000, budget: 7_000 }, 'after');
    expect(bill.dynamo.find((d) => d.what.startsWith('connect:'))?.wru).toBe(10_000);
    expect(bill.dynamo.some((d) => d.what.startsWith('budget ledger'))).toBe(true);
  });

  it('bills the ceremony of issue 12 at no more than 2× the update messages, and the uncapped cadence at ~8×', () => {
    const ceremony = { viewers: 10_000, hours: 2, updates: 300, reposts: 10_000, budget: 7_000 };
    const after = ceremonyBill(ceremony, 'after');
    const before = ceremonyBill(ceremony, 'before');
    expect(after.updateMessages).toBe(3_000_000);
    // One counts visit per 24 s gap between updates, and the last counts after the last update.
    expect(after.countMessages).toBe(after.updateMessages + ceremony.viewers);
    expect(after.perViewer.maxStalenessMs).toBeLessThanOrEqual(15_000);
    expect(before.countMessages / before.updateMessages).toBeGreaterThan(7);
    expect(after.total).toBeLessThan(before.total / 3);
  });
});

describe('npm run cost', () => {
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/cost.ts', ...args],
        { timeout: 60_000 },
        (error, out, err) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, out, err }),
      );
    });

  it('prints the bill, before and after, with the price table and its date', async () => {
    const { code, out } = await run('--viewers', '2000', '--hours', '1', '--updates', '60', '--reposts', '500');
    expect(code).toBe(0);
    expect(out).toContain('### The bill (list prices, us-east-1, as of ');
    expect(out).toMatch(/\| total .*\$\d+\.\d\d .*\$\d+\.\d\d/);
    expect(out).toContain('Lambda duration, arm64');
  }, 60_000);

  it('refuses bad input with the usage and exit 2, naming the flag', async () => {
    for (const args of [
      ['--viewers', '-5'],
      ['--hours', 'two'],
      ['--updates', '1.5'],
      ['--cadence', 'sometimes'],
      ['--bogus'],
    ]) {
      const { code, out, err } = await run(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(out).toBe('');
      expect(err).toContain(args[0]!.replace(/^--/, ''));
      expect(err).toContain('usage: npm run cost');
    }
  }, 120_000);
});
