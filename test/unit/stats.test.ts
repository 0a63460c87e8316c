// The live counts the tally writes into the change log: every changed total goes out, and no line
// grows past what one DynamoDB item can hold.
import { describe, expect, it } from 'vitest';
import { StatsPublisher } from '../../shared/domain/stats-publisher';
import type { StatsFrame } from '../../shared/domain/protocol';
import { FakeEntries, FakeEvents, eventRecord } from '../support/fakes';

/** DynamoDB's item size for a stats line (the developer guide's rules: names + values + map overheads). */
function itemBytes(frame: StatsFrame): number {
  const number = (n: number) => 1 + Math.ceil(String(n).replace(/^0+|0+$/g, '').length / 2);
  let reposts = 3;
  for (const [seq, n] of Object.entries(frame.reposts)) reposts += Buffer.byteLength(seq) + number(n) + 1;
  return (
    'eventId'.length +
    20 +
    'changeNo'.length +
    8 +
    'action'.length +
    5 +
    'frame'.length +
    3 +
    64 +
    'reposts'.length +
    reposts
  );
}
const MAX_ITEM_BYTES = 400 * 1024;

async function world(eventId: string, totals: Map<number, number>) {
  const events = new FakeEvents();
  const entries = new FakeEntries(events);
  await events.create(eventRecord(eventId));
  const viewers = { count: async () => 7 };
  const reposts = {
    totals: async (_e: string, from: number, to: number) =>
      new Map([...totals].filter(([seq]) => seq >= from && seq <= to)),
  };
  return {
    entries,
    stats: new StatsPublisher({ reposts, entries, viewers, now: Date.now }),
    lines: () => (entries.frameLines.get(eventId) ?? []).map((l) => l.frame as StatsFrame),
  };
}

describe('StatsPublisher', () => {
  it('spreads the totals of a storm over very many entries across lines that each fit in a DynamoDB item', async () => {
    // 40,000 entries reposted in one window: as one line, ~440 KB.
    const totals = new Map(Array.from({ length: 40_000 }, (_, i) => [100_000 + i, 10_000 + i] as const));
    const w = await world('ev-storm', totals);

    await w.stats.publish('ev-storm', new Set(totals.keys()));

    const lines = w.lines();
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) {
      expect(itemBytes(line)).toBeLessThan(MAX_ITEM_BYTES);
      expect(line).toMatchObject({ type: 'stats', eventId: 'ev-storm', viewers: 7 });
    }
    // Nothing left waiting for a next batch that may never come: every total went out, once.
    expect(lines.reduce((n, l) => n + Object.keys(l.reposts).length, 0)).toBe(40_000);
    const sent: Record<string, number> = Object.assign({}, ...lines.map((l) => l.reposts));
    expect([...totals].filter(([seq, n]) => sent[String(seq)] !== n)).toEqual([]);
  });

  it('still sends a small window as one line', async () => {
    const totals = new Map([
      [1, 5],
      [2, 9],
    ]);
    const w = await world('ev-small', totals);
    await w.stats.publish('ev-small', new Set([1, 2]));
    expect(w.lines()).toEqual([expect.objectContaining({ viewers: 7, reposts: { '1': 5, '2': 9 } })]);
  });
});
