// A delivery worker's window on the event's change log: each change serialized once, and the
// messages for "everything after change N" composed once per N and shared by every connection at N.
// Live counts are merged and split to fit; a line that cannot be sent at all is skipped and reported.
import { fits, pack, type Serialized, serialize, splitStats } from '../frames';
import { MAX_FRAME_BYTES, type StatsFrame } from '../protocol';
import type { LogLine } from '../ports';
import { checkLine } from './log-line';
import type { ChangeLog } from './shared-change-log';

export interface Message {
  bytes: Uint8Array;
  /** The last change this message carries: a connection that got it is owed only what follows. */
  through: number;
  /** When the oldest update it carries was committed (epoch ms; its entry's `updatedAt`): for the delivery-lag metric. */
  committedAt?: number;
  /** It carries only live counts (stats frames), nothing new. */
  statsOnly?: boolean;
}

export interface ChangeFeedOptions {
  maxBytes?: number;
  /** A line that cannot be sent (malformed, or too large for a frame): told once per line, then passed over. */
  onSkip?: (changeNo: number, reason: string) => void;
}

/** One change as delivery holds it: an update or spike serialized once, live counts as a state, or nothing to send. */
type Line =
  | (Serialized & { changeNo: number; kind: 'frame'; committedAt?: number })
  | { changeNo: number; kind: 'stats'; frame: StatsFrame; parts?: Serialized[] }
  | { changeNo: number; kind: 'skipped' };

const PAGE = 500;

export class ChangeFeed {
  /** Changes start < changeNo <= head, in order. */
  private lines: Line[] = [];
  private start: number | undefined;
  private composed = new Map<number, Message[]>();
  private composedHead = -1;
  private readonly maxBytes: number;
  /** Lines already reported skipped (a line read again after a trim is not counted twice). */
  private readonly skipped = new Set<number>();

  constructor(
    private readonly eventId: string,
    private readonly store: ChangeLog,
    private readonly options: ChangeFeedOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? MAX_FRAME_BYTES;
  }

  /** The newest change known; every connection at this cursor is up to date. */
  get head(): number {
    return this.start === undefined ? 0 : this.start + this.lines.length;
  }

  /**
   * Reads changes newer than the head. Returns how many arrived. `fresh`: ask the store now rather
   * than take a read another worker made a moment ago (see SharedChangeLog).
   */
  async refresh(fresh = false): Promise<number> {
    if (this.start === undefined) return 0;
    let added = 0;
    for (;;) {
      const page = await this.store.changesAfter(this.eventId, this.head, PAGE, { fresh });
      for (const change of page) {
        // The log is gapless by construction; never skip over a hole, whatever a read returned.
        if (change.changeNo !== this.head + 1) return added;
        this.lines.push(this.frameOf(change));
        added++;
      }
      if (page.length === 0) return added;
    }
  }

  /** Makes sure changes after `cursor` are known (a connection owed older changes than the window holds). */
  async ensureFrom(cursor: number): Promise<void> {
    if (this.start === undefined) {
      this.start = cursor;
      await this.refresh();
      return;
    }
    if (cursor >= this.start) return;
    const older: LogLine[] = [];
    for (let after = cursor; after < this.start;) {
      const page = await this.store.changesAfter(this.eventId, after, Math.min(PAGE, this.start - after));
      if (page.length === 0) break;
      older.push(...page.filter((c) => c.changeNo <= (this.start ?? 0)));
      after = page.at(-1)!.changeNo;
    }
    this.lines = [...older.map((c) => this.frameOf(c)), ...this.lines];
    this.start = cursor;
    this.composed.clear();
  }

  /** Whether everything after `cursor` is stats (a visit would carry only live counts, or nothing). */
  onlyStatsAfter(cursor: number): boolean {
    if (this.lastNonStatsHead !== this.head) {
      // The newest change that is not stats, found once per head (this runs once per connection).
      let i = this.lines.length - 1;
      while (i >= 0 && this.lines[i]!.kind !== 'frame') i--;
      this.lastNonStats = i >= 0 ? this.lines[i]!.changeNo : (this.start ?? 0);
      this.lastNonStatsHead = this.head;
    }
    return cursor < this.head && cursor >= this.lastNonStats;
  }
  private lastNonStats = 0;
  private lastNonStatsHead = -1;

  /** Forgets changes every connection already has. */
  trim(minCursor: number): void {
    if (this.start === undefined || minCursor <= this.start) return;
    const drop = Math.min(this.lines.length, minCursor - this.start);
    this.lines = this.lines.slice(drop);
    this.start += drop;
    this.composed.clear();
  }

  /** The messages, each under the frame limit, that bring a connection at `cursor` up to the head. */
  messagesAfter(cursor: number): Message[] {
    if (this.composedHead !== this.head) {
      this.composed.clear();
      this.composedHead = this.head;
    }
    let messages = this.composed.get(cursor);
    if (!messages) {
      messages = this.compose(cursor);
      this.composed.set(cursor, messages);
    }
    return messages;
  }

  /**
   * Live counts are a state, not a story: the stats pending are merged (each seq's newest total,
   * the newest viewers and `at`) and go out where the newest of them stands, split into as many
   * stats frames as the frame limit needs. An empty list: nothing after `cursor` can be sent.
   */
  private compose(cursor: number): Message[] {
    const from = Math.max(0, cursor - (this.start ?? cursor));
    const lines = this.lines.slice(from);
    const stats = lines.filter((l) => l.kind === 'stats');
    const first = stats[0]?.changeNo ?? Infinity;
    const last = stats.at(-1);
    // A connection that stops (a failed post) before the last part of the merged counts resumes
    // from before the first stats, so nothing only an older stats held is lost; updates in between
    // may come twice, which clients ignore (they apply by seq and rev).
    const items: { frame: Serialized; through: number; committedAt?: number; stats?: true }[] = [];
    for (const line of lines) {
      if (line.kind === 'frame') {
        const through = line.changeNo > first && line.changeNo < last!.changeNo ? first - 1 : line.changeNo;
        items.push({
          frame: line,
          through,
          ...(line.committedAt !== undefined ? { committedAt: line.committedAt } : {}),
        });
      } else if (line === last) {
        const parts =
          stats.length === 1
            ? (last.parts ??= splitStats(last.frame, this.maxBytes))
            : splitStats(merge(stats.map((s) => s.frame)), this.maxBytes);
        parts.forEach((frame, i) =>
          items.push({ frame, through: i === parts.length - 1 ? last.changeNo : first - 1, stats: true }),
        );
      }
    }
    if (items.length === 0) return [];
    const lastChange = lines.at(-1)!.changeNo;
    return pack(
      items.map((i) => i.frame),
      this.maxBytes,
    ).map((m, i, messages) => {
      const carried = items.slice(i === 0 ? 0 : messages[i - 1]!.last + 1, m.last + 1);
      const committed = carried.flatMap((c) => (c.committedAt !== undefined ? [c.committedAt] : []));
      return {
        bytes: m.bytes,
        // The last message carries the connection through every change pending, merged and skipped ones included.
        through: i === messages.length - 1 ? lastChange : items[m.last]!.through,
        ...(committed.length > 0 ? { committedAt: Math.min(...committed) } : {}),
        ...(carried.every((c) => c.stats) ? { statsOnly: true } : {}),
      };
    });
  }

  private frameOf(line: LogLine): Line {
    const { changeNo } = line;
    let reason: string;
    try {
      const checked = checkLine(line, this.eventId);
      if (checked.ok && checked.kind === 'stats') {
        // Split when sent, merged with other pending stats or alone (one line may hold more than a
        // frame): it can be if one total fits beside the rest (a checked total takes under 64 bytes).
        const frame: StatsFrame = { ...checked.frame, changeNo };
        const bare = serialize({ ...frame, reposts: {} });
        if (fits({ ...bare, bytes: bare.bytes + 64 }, this.maxBytes)) return { changeNo, kind: 'stats', frame };
        reason = 'a stats frame too large even without its totals';
      } else if (checked.ok) {
        // changeNo on every frame delivered: a client can resume its `sinceChange` from a stats or
        // spike frame as from an update (delivery to one connection is in change order).
        const frame = serialize(
          checked.kind === 'update'
            ? { type: 'update', eventId: this.eventId, entry: checked.entry, changeNo }
            : { ...checked.frame, changeNo },
        );
        // An update's entry says when it was committed (updatedAt, set by the change that made this line).
        const committedAt = checked.kind === 'update' ? Date.parse(checked.entry.updatedAt) : NaN;
        if (fits(frame, this.maxBytes))
          return { changeNo, kind: 'frame', ...frame, ...(Number.isFinite(committedAt) ? { committedAt } : {}) };
        reason = `a ${checked.kind} frame of ${frame.bytes} bytes, over the ${this.maxBytes}-byte frame limit`;
      } else {
        reason = checked.reason;
      }
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    if (!this.skipped.has(changeNo)) {
      if (this.skipped.size >= 10_000) this.skipped.clear();
      this.skipped.add(changeNo);
      this.options.onSkip?.(changeNo, reason);
    }
    return { changeNo, kind: 'skipped' };
  }
}

/** Stats frames, oldest first, as one: every seq's newest total, the newest viewers, `at` and changeNo. */
function merge(frames: readonly StatsFrame[]): StatsFrame {
  const reposts: Record<string, number> = {};
  for (const f of frames) Object.assign(reposts, f.reposts);
  return { ...frames.at(-1)!, reposts };
}
