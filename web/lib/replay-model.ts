// The replay's data, pure: every revision of every entry on a time axis, the state of the timeline
// at any moment, and the export in JSON and CSV.
import { type Entry, type EventView, imagesOf, type RepostsView, type Revision } from './types';

export interface ReplayData {
  event: EventView;
  /** Current state of every entry (with its repost total). */
  entries: Entry[];
  /** Every revision, in the order made. */
  revisions: Revision[];
  reposts: RepostsView;
}

export class ReplayModel {
  /** Revisions per seq, oldest first. */
  private readonly bySeq = new Map<number, Revision[]>();
  private readonly totals = new Map<number, number>();
  readonly start: number;
  readonly end: number;

  constructor(readonly data: ReplayData) {
    for (const r of data.revisions) {
      const list = this.bySeq.get(r.entry.seq) ?? [];
      list.push(r);
      this.bySeq.set(r.entry.seq, list);
    }
    // An entry whose revisions predate the export's reach still shows, as its current state.
    for (const e of data.entries) {
      if (!this.bySeq.has(e.seq)) this.bySeq.set(e.seq, [{ changeNo: 0, entry: e }]);
      this.totals.set(e.seq, e.reposts);
    }
    const times: number[] = [];
    for (const list of this.bySeq.values()) for (const r of list) times.push(revisionTime(r.entry));
    for (const b of data.reposts.buckets) times.push(b.t, b.t + 1000);
    for (const s of data.reposts.spikes) times.push(s.startedAt, s.endedAt ?? s.startedAt);
    // A loop, not Math.min(...times): a long event's series would overflow the argument list.
    let start = times.length > 0 ? Infinity : Date.parse(data.event.createdAt);
    let end = -Infinity;
    for (const t of times) {
      if (t < start) start = t;
      if (t > end) end = t;
    }
    this.start = start;
    this.end = Math.max(start + 1000, end);
  }

  get span(): number {
    return this.end - this.start;
  }

  /**
   * The position slider's max for a step of `step` ms: the span rounded *up* to a step. A range
   * input's value snaps to min + k × step, so with max = span (not a multiple of the step) its far
   * end stopped short of `end`, and an update made in the last step never showed.
   */
  sliderMax(step: number): number {
    return Math.ceil(this.span / step) * step;
  }

  /** The moment a slider value stands for (clamped to the event's end). */
  timeAt(sliderValue: number): number {
    return Math.min(this.end, this.start + sliderValue);
  }

  /**
   * The entries as a viewer saw them at time t: the newest revision made by then, deleted ones left
   * out; pinned first, then newest. `reposts` is the entry's final total (the series has no per-entry split).
   */
  at(t: number): Entry[] {
    const out: Entry[] = [];
    for (const list of this.bySeq.values()) {
      let shown: Entry | undefined;
      for (const r of list) if (revisionTime(r.entry) <= t) shown = r.entry;
      if (shown && !shown.deleted) out.push({ ...shown, reposts: this.totals.get(shown.seq) ?? 0 });
    }
    return out.sort((a, b) => Number(b.pinned) - Number(a.pinned) || b.seq - a.seq);
  }

  /** Where a spike is best seen: its start, or the moment its entry was posted if that came later in the same second. */
  spikeMoment(spike: { startedAt: number; topSeq: number }): number {
    const first = this.bySeq.get(spike.topSeq)?.[0];
    return Math.max(spike.startedAt, first ? revisionTime(first.entry) : spike.startedAt);
  }

  /** Every revision, each with the entry's current repost total, in change order. */
  exportRows(): { changeNo: number; entry: Entry; repostsTotal: number }[] {
    const rows: { changeNo: number; entry: Entry; repostsTotal: number }[] = [];
    for (const list of this.bySeq.values())
      for (const r of list)
        rows.push({ changeNo: r.changeNo, entry: r.entry, repostsTotal: this.totals.get(r.entry.seq) ?? 0 });
    return rows.sort((a, b) => a.changeNo - b.changeNo || a.entry.seq - b.entry.seq);
  }

  /** `imageUrl` as for the CSV: a saved file has no origin either. */
  toJson(exportedAt = new Date(), imageUrl: (url: string) => string = (url) => url): string {
    const entries = [...this.bySeq.entries()]
      .sort(([a], [b]) => a - b)
      .map(([seq, list]) => ({
        seq,
        reposts: this.totals.get(seq) ?? 0,
        revisions: list.map(({ changeNo, entry: { reposts: _total, ...revision } }) => ({
          changeNo,
          ...revision,
          images: imagesOf(revision).map((i) => ({ ...i, url: imageUrl(i.url) })),
        })),
      }));
    return JSON.stringify(
      { event: this.data.event, exportedAt: exportedAt.toISOString(), entries, reposts: this.data.reposts },
      null,
      2,
    );
  }

  /** `imageUrl` makes the photos' urls absolute (a spreadsheet has no origin to read them against). */
  toCsv(imageUrl: (url: string) => string = (url) => url): string {
    const header = [
      'changeNo',
      'seq',
      'rev',
      'kind',
      'pinned',
      'deleted',
      'createdAt',
      'updatedAt',
      'text',
      'repostsTotal',
      'images',
    ];
    const lines = [header.join(',')];
    for (const { changeNo, entry: e, repostsTotal } of this.exportRows()) {
      lines.push(
        [
          changeNo,
          e.seq,
          e.rev,
          e.kind,
          e.pinned,
          e.deleted,
          e.createdAt,
          e.updatedAt,
          e.text,
          repostsTotal,
          imagesOf(e)
            .map((i) => imageUrl(i.url))
            .join(' '),
        ]
          .map(csvField)
          .join(','),
      );
    }
    // A byte-order mark, so spreadsheet programs read the Chinese as UTF-8; CRLF as RFC 4180 has it.
    return `\uFEFF${lines.join('\r\n')}\r\n`;
  }
}

/** When a revision was made: a publish at createdAt, every later revision at its updatedAt. */
export const revisionTime = (e: Entry): number => Date.parse(e.rev === 1 ? e.createdAt : e.updatedAt);

/**
 * RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled. A text a
 * spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) gets a leading
 * apostrophe, which spreadsheets hide — the CSV is for spreadsheets; the JSON keeps texts exactly.
 */
export function csvField(v: string | number | boolean): string {
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
