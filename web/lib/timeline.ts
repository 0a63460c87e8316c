// The entries a page holds, applied by (seq, rev) as the contract asks: an update with a higher rev
// replaces the entry in place, an older or repeated one changes nothing, so a re-sync after a
// reconnect or a duplicate delivery never shows anything twice.
import type { Entry } from '../../shared/domain/protocol';
import { count } from './format';

export type Applied = 'new' | 'changed' | 'stale';

export interface HeldEntry extends Entry {
  /** The text changed after it was first shown here (an edit, not a pin). */
  corrected: boolean;
}

export class Timeline {
  private readonly bySeq = new Map<number, HeldEntry>();
  /** Repost counts from stats frames; counts only grow, so the larger of the two sources wins. */
  private readonly liveReposts = new Map<number, number>();

  get size(): number {
    return this.bySeq.size;
  }

  /** The highest seq held. */
  get highestSeq(): number {
    let max = 0;
    for (const seq of this.bySeq.keys()) if (seq > max) max = seq;
    return max;
  }

  /**
   * The highest n with every seq 1..n held: what a reconnecting page passes to `sync`. Seqs have no
   * gaps (a deleted entry keeps its seq), so a hole means something was missed — a live update that
   * overtook an unfinished catch-up, say — and syncing from below it fills it.
   */
  get syncedThrough(): number {
    while (this.bySeq.has(this.prefix + 1)) this.prefix++;
    return this.prefix;
  }
  private prefix = 0;

  apply(entry: Entry): Applied {
    const held = this.bySeq.get(entry.seq);
    if (held && held.rev >= entry.rev) {
      // Not a newer revision, but its repost total may be newer than the one held.
      if (entry.reposts > held.reposts) held.reposts = entry.reposts;
      return 'stale';
    }
    const corrected = held ? held.corrected || held.text !== entry.text : false;
    this.bySeq.set(entry.seq, {
      ...entry,
      corrected,
      reposts: Math.max(entry.reposts, held?.reposts ?? 0, this.liveReposts.get(entry.seq) ?? 0),
    });
    return held ? 'changed' : 'new';
  }

  /** Totals from a stats frame; returns the seqs whose count went up. */
  applyReposts(totals: Record<string, number>): number[] {
    const changed: number[] = [];
    for (const [key, n] of Object.entries(totals)) {
      const seq = Number(key);
      if (!Number.isInteger(seq) || typeof n !== 'number') continue;
      if (n > (this.liveReposts.get(seq) ?? 0)) this.liveReposts.set(seq, n);
      const held = this.bySeq.get(seq);
      if (held && n > held.reposts) {
        held.reposts = n;
        changed.push(seq);
      }
    }
    return changed;
  }

  /**
   * This page's own repost was counted: the entry's total is at least what it showed when the
   * repost was sent, plus one — at once, rather than "Reposted 0" until the next stats frame (up to
   * a second). Totals only rise, and a stats frame that already held this repost is ≥ that, so it
   * is never counted twice.
   */
  countOwnRepost(seq: number, shownWhenSent: number): boolean {
    const held = this.bySeq.get(seq);
    if (!held || held.reposts >= shownWhenSent + 1) return false;
    held.reposts = shownWhenSent + 1;
    return true;
  }

  get(seq: number): HeldEntry | undefined {
    return this.bySeq.get(seq);
  }

  /**
   * In the reading order (newest or oldest first), pinned entries on top in either (in the same
   * order among themselves: they are what the reporter wants read first); deleted entries are left out.
   */
  ordered(filter: (e: HeldEntry) => boolean = () => true, order: 'newest' | 'oldest' = 'newest'): HeldEntry[] {
    const bySeq =
      order === 'newest'
        ? (a: HeldEntry, b: HeldEntry) => b.seq - a.seq
        : (a: HeldEntry, b: HeldEntry) => a.seq - b.seq;
    return [...this.bySeq.values()]
      .filter((e) => !e.deleted && filter(e))
      .sort((a, b) => Number(b.pinned) - Number(a.pinned) || bySeq(a, b));
  }

  /** Every entry shown, newest first by seq, pins not lifted: what feeds, snapshots and the JSON-LD list. */
  newestShown(): HeldEntry[] {
    return [...this.bySeq.values()].filter((e) => !e.deleted).sort((a, b) => b.seq - a.seq);
  }
}

/**
 * Applies a stats frame's totals and changes the counts shown under `list` in place (cards marked
 * `data-seq`, counts `data-testid=repost-count`): rebuilding the list every second would lose the
 * reader's selection and focus.
 */
export function showRepostTotals(timeline: Timeline, list: Element, totals: Record<string, number>): void {
  for (const seq of timeline.applyReposts(totals)) {
    const el = list.querySelector(`[data-seq="${seq}"] [data-testid=repost-count]`);
    if (el) el.textContent = count(timeline.get(seq)?.reposts ?? 0);
  }
}
