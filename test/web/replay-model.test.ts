import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/domain/protocol';
import { csvField, ReplayModel } from '../../web/lib/replay-model';

const T0 = Date.parse('2026-11-29T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();
const rev = (seq: number, r: number, createdS: number, updatedS: number, over: Partial<Entry> = {}): Entry => ({
  seq,
  rev: r,
  kind: 'text',
  text: `${seq} rev ${r}`,
  pinned: false,
  deleted: false,
  createdAt: iso(createdS),
  updatedAt: iso(updatedS),
  reposts: 0,
  images: [],
  ...over,
});

function model() {
  const revisions = [
    { changeNo: 1, entry: rev(1, 1, 0, 0) },
    { changeNo: 2, entry: rev(2, 1, 10, 10, { kind: 'key' }) },
    { changeNo: 4, entry: rev(1, 2, 0, 20, { text: 'one, "fixed"' }) },
    { changeNo: 5, entry: rev(2, 2, 10, 30, { pinned: true }) },
    { changeNo: 6, entry: rev(3, 1, 40, 40) },
    { changeNo: 7, entry: rev(3, 2, 40, 50, { deleted: true, text: '' }) },
  ];
  const current = [
    rev(1, 2, 0, 20, { text: 'one, "fixed"', reposts: 3 }),
    rev(2, 2, 10, 30, { pinned: true, reposts: 120 }),
    rev(3, 2, 40, 50, { deleted: true, text: '' }),
  ];
  return new ReplayModel({
    event: { eventId: 'e1', title: 'T', lastSeq: 3, viewers: 0, createdAt: iso(-60) },
    entries: current,
    revisions,
    reposts: {
      buckets: [
        { t: T0 + 12_000, count: 100 },
        { t: T0 + 13_000, count: 23 },
      ],
      spikes: [],
      total: 123,
    },
  });
}

describe('ReplayModel (what the replay shows at a moment, and what it exports)', () => {
  it('spans the first revision to the last thing that happened', () => {
    const m = model();
    expect(m.start).toBe(T0);
    expect(m.end).toBe(T0 + 50_000);
  });

  it('lets the position slider reach the very end, where the last update shows, whatever the span', () => {
    // An event whose span is not a whole number of the slider's 100 ms steps: 50,040 ms here.
    const revisions = [
      { changeNo: 1, entry: rev(1, 1, 0, 0) },
      { changeNo: 2, entry: rev(2, 1, 50.04, 50.04) },
    ];
    const m = new ReplayModel({
      event: { eventId: 'e1', title: 'T', lastSeq: 2, viewers: 0, createdAt: iso(-60) },
      entries: revisions.map((r) => r.entry),
      revisions,
      reposts: { buckets: [], spikes: [], total: 0 },
    });
    const step = 100;
    // A range input snaps its value to min + k × step, never past max: its far end.
    const farEnd = Math.floor(m.sliderMax(step) / step) * step;
    expect(m.timeAt(farEnd)).toBe(m.end);
    expect(m.at(m.timeAt(farEnd)).map((e) => e.seq)).toEqual([2, 1]);
    // With max = span (50,040) the far end was 50,000: update 2 left out.
    expect(m.at(m.start + Math.floor(m.span / step) * step).map((e) => e.seq)).toEqual([1]);
  });

  it('shows each entry as it stood at the moment: revision in force, pinned first, deleted gone', () => {
    const m = model();
    const at = (s: number) => m.at(T0 + s * 1000).map((e) => `${e.seq}:${e.text}${e.pinned ? ' (pinned)' : ''}`);
    expect(at(0)).toEqual(['1:1 rev 1']);
    expect(at(15)).toEqual(['2:2 rev 1', '1:1 rev 1']);
    expect(at(25)).toEqual(['2:2 rev 1', '1:one, "fixed"']);
    expect(at(35)).toEqual(['2:2 rev 2 (pinned)', '1:one, "fixed"']);
    expect(at(45)).toEqual(['2:2 rev 2 (pinned)', '3:3 rev 1', '1:one, "fixed"']);
    expect(at(50)).toEqual(['2:2 rev 2 (pinned)', '1:one, "fixed"']);
  });

  it('exports every revision with the entry’s repost total, as JSON and as RFC 4180 CSV with a BOM', () => {
    const m = model();
    const json = JSON.parse(m.toJson(new Date(T0))) as {
      entries: { seq: number; reposts: number; revisions: { changeNo: number; rev: number; reposts?: number }[] }[];
    };
    expect(json.entries.map((e) => [e.seq, e.reposts, e.revisions.map((r) => r.changeNo)])).toEqual([
      [1, 3, [1, 4]],
      [2, 120, [2, 5]],
      [3, 0, [6, 7]],
    ]);
    expect(json.entries[0]!.revisions[0]).not.toHaveProperty('reposts');
    const csv = m.toCsv();
    expect(csv.startsWith('\uFEFFchangeNo,seq,rev,')).toBe(true);
    const lines = csv.slice(1).split('\r\n');
    expect(lines).toHaveLength(8); // header, six revisions, the final empty line
    expect(lines[3]).toBe(`4,1,2,text,false,false,${iso(0)},${iso(20)},"one, ""fixed""",3,`); // no photos: the images column is empty
  });

  it('quotes CSV fields only when they need it', () => {
    expect(csvField('plain 香鱼')).toBe('plain 香鱼');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(42)).toBe('42');
    expect(csvField(-3)).toBe('-3'); // numbers are numbers
  });

  it('keeps a text from running as a spreadsheet formula', () => {
    expect(csvField('=HYPERLINK("http://evil","click")')).toBe(`"'=HYPERLINK(""http://evil"",""click"")"`);
    expect(csvField('+1 more boat')).toBe("'+1 more boat");
    expect(csvField('@mayor')).toBe("'@mayor");
    expect(csvField('-5 degrees at dawn')).toBe("'-5 degrees at dawn");
  });
});
