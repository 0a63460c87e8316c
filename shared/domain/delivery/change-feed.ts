// A delivery worker's window on the event's change log: each change serialized once, and the
// messages for "everything after change N" composed once per N and shared by every connection at N.
import { pack, type Serialized, serialize } from '../frames';
import { MAX_FRAME_BYTES } from '../protocol';
import type { LogLine } from '../ports';
import type { ChangeLog } from './shared-change-log';

export interface Message {
  bytes: Uint8Array;
  /** The last change this message carries: a connection that got it is owed only what follows. */
  through: number;
}

const PAGE = 500;

export class ChangeFeed {
  /** Changes start < changeNo <= head, in order, each as its frame's JSON (`update`, `stats`, `spike`). */
  private frames: (Serialized & { changeNo: number; stats: boolean })[] = [];
  private start: number | undefined;
  private composed = new Map<number, Message[]>();
  private composedHead = -1;

  constructor(
    private readonly eventId: string,
    private readonly store: ChangeLog,
    private readonly maxBytes: number = MAX_FRAME_BYTES,
  ) {}

  /** The newest change known; every connection at this cursor is up to date. */
  get head(): number {
    return this.start === undefined ? 0 : this.start + this.frames.length;
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
        this.frames.push(this.frameOf(change));
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
    for (let after = cursor; after < this.start; ) {
      const page = await this.store.changesAfter(this.eventId, after, Math.min(PAGE, this.start - after));
      if (page.length === 0) break;
      older.push(...page.filter((c) => c.changeNo <= (this.start ?? 0)));
      after = page.at(-1)!.changeNo;
    }
    this.frames = [...older.map((c) => this.frameOf(c)), ...this.frames];
    this.start = cursor;
    this.composed.clear();
  }

  /** Whether everything after `cursor` is stats (a visit would carry only live counts). */
  onlyStatsAfter(cursor: number): boolean {
    if (this.lastNonStatsHead !== this.head) {
      // The newest change that is not stats, found once per head (this runs once per connection).
      let i = this.frames.length - 1;
      while (i >= 0 && this.frames[i]!.stats) i--;
      this.lastNonStats = i >= 0 ? this.frames[i]!.changeNo : (this.start ?? 0);
      this.lastNonStatsHead = this.head;
    }
    return cursor < this.head && cursor >= this.lastNonStats;
  }
  private lastNonStats = 0;
  private lastNonStatsHead = -1;

  /** Forgets changes every connection already has. */
  trim(minCursor: number): void {
    if (this.start === undefined || minCursor <= this.start) return;
    const drop = Math.min(this.frames.length, minCursor - this.start);
    this.frames = this.frames.slice(drop);
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

  private compose(cursor: number): Message[] {
    const from = Math.max(0, cursor - (this.start ?? cursor));
    const all = this.frames.slice(from);
    // Live counts are a state, not a story: of the stats pending, only the newest goes out.
    const lastStats = all.findLastIndex((f) => f.stats);
    const pending = all.filter((f, i) => !f.stats || i === lastStats);
    const lastChange = all.at(-1)!.changeNo;
    return pack(pending, this.maxBytes).map((m, i, messages) => ({
      bytes: m.bytes,
      // The last message carries the connection through every change pending, dropped stats included.
      through: i === messages.length - 1 ? lastChange : pending[m.last]!.changeNo,
    }));
  }

  private frameOf(line: LogLine) {
    // changeNo on every frame delivered: a client can resume its `sinceChange` from a stats frame as
    // from an update (delivery to one connection is in change order).
    if ('frame' in line) return { changeNo: line.changeNo, stats: line.frame.type === 'stats', ...serialize({ ...line.frame, changeNo: line.changeNo }) };
    return { changeNo: line.changeNo, stats: false, ...serialize({ type: 'update', eventId: this.eventId, entry: line.entry, changeNo: line.changeNo }) };
  }
}
