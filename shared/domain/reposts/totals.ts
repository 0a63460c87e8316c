// Entries as readers get them: with their repost totals as the tally has them (exact, a moment
// behind a storm), not the count the entry item was written with.
import type { RepostStore } from '../ports';
import type { Entry } from '../protocol';

/** `entries` in seq order, each with its total from the counters (one range read). */
export async function withRepostTotals(
  reposts: Pick<RepostStore, 'totals'>,
  eventId: string,
  entries: Entry[],
): Promise<Entry[]> {
  const first = entries[0];
  const last = entries.at(-1);
  if (!first || !last) return entries;
  const totals = await reposts.totals(eventId, first.seq, last.seq);
  return entries.map((e) => ({ ...e, reposts: totals.get(e.seq) ?? e.reposts }));
}
