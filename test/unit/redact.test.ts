// Deleted text stays private: anyone's revisions show a deleted entry's history without its text,
// the organiser's show every revision; the organiser's redaction removes an entry's text from the
// entry and from every line of the change log, and goes out as a change like a delete.
import { beforeEach, describe, expect, it } from 'vitest';
import { EventService } from '../../shared/domain/event-service';
import { type Caller, LiveService } from '../../shared/domain/live-service';
import type { Revision } from '../../shared/domain/protocol';
import {
  FakeEntries,
  FakeEvents,
  FakeGateway,
  FakeViewerCounts,
  eventRecord,
  fixedClock,
  silentLog,
} from '../support/fakes';
import { refusal } from '../support/refusal';

const reporter: Caller = { connectionId: 'rep-1', eventId: 'ev1', role: 'reporter' };
const PHONE = '+86 138 0013 8000';

let events: FakeEvents;
let entries: FakeEntries;
let live: LiveService;
let service: EventService;

beforeEach(async () => {
  // Prepare: an event whose entry 1 carried a phone number, was corrected and then deleted; entry 2 stays.
  events = new FakeEvents();
  entries = new FakeEntries(events);
  const clock = fixedClock();
  live = new LiveService({ events, entries, changes: entries, gateway: new FakeGateway(), clock, log: silentLog });
  const reposts = { totals: async () => new Map([[2, 7]]), seconds: async () => [], spikes: async () => [] };
  service = new EventService({ events, entries, changes: entries, clock, reposts, viewers: new FakeViewerCounts() });
  await events.create(eventRecord('ev1'));
  await live.publish(reporter, { action: 'publish', clientId: 'p1', text: `Lost child? Call ${PHONE}`, kind: 'text' });
  await live.publish(reporter, { action: 'publish', clientId: 'p2', text: 'The ribbon is cut', kind: 'key' });
  await live.edit(reporter, { action: 'edit', clientId: 'e1', seq: 1, text: `Lost child? Call ${PHONE} (stage left)` });
  await live.delete(reporter, { action: 'delete', clientId: 'd1', seq: 1 });
  await live.edit(reporter, { action: 'edit', clientId: 'e2', seq: 2, text: 'The ribbon is cut!' });
});

const lastChange = () => events.items.get('ev1')!.lastChange;
/** The change log's entry lines as "seq/rev:text". */
const logLines = () => (entries.changes.get('ev1') ?? []).map((c) => `${c.entry.seq}/${c.entry.rev}:${c.entry.text}`);
const shown = (items: Revision[]) => items.map((r) => `${r.entry.seq}/${r.entry.rev}:${r.entry.text}`);

describe('revisions', () => {
  it('anyone sees every revision of a deleted entry with empty text, and the live entry’s as written', async () => {
    const { items, next } = await service.revisions('ev1', 0, 100);
    expect(shown(items)).toEqual(['1/1:', '2/1:The ribbon is cut', '1/2:', '1/3:', '2/2:The ribbon is cut!']);
    expect(JSON.stringify(items)).not.toContain(PHONE);
    expect(next).toBeNull();
  });

  it('the organiser sees every revision as stored', async () => {
    const { items } = await service.revisions('ev1', 0, 100, 'organiser');
    expect(shown(items)).toEqual([
      `1/1:Lost child? Call ${PHONE}`,
      '2/1:The ribbon is cut',
      `1/2:Lost child? Call ${PHONE} (stage left)`,
      '1/3:',
      '2/2:The ribbon is cut!',
    ]);
  });

  it('hides the text on every page when read in short pages, one state read per page', async () => {
    entries.maxPerRead = 2;
    const seen: Revision[] = [];
    let reads = 0;
    for (let after: number | null = 0; after !== null; reads++) {
      const page = await service.revisions('ev1', after, 100);
      seen.push(...page.items);
      after = page.next;
    }
    expect(shown(seen)).toEqual(['1/1:', '2/1:The ribbon is cut', '1/2:', '1/3:', '2/2:The ribbon is cut!']);
    expect(entries.getManyCalls).toBeLessThanOrEqual(reads);
  });

  it('a deletion committed between reading the lines and the entries is honoured', async () => {
    await live.publish(reporter, { action: 'publish', clientId: 'p3', text: `Call me ${PHONE}`, kind: 'text' });
    const getMany = entries.getMany.bind(entries);
    entries.getMany = async (eventId, seqs) => {
      await live.delete(reporter, { action: 'delete', clientId: 'd3', seq: 3 });
      return getMany(eventId, seqs);
    };
    const { items } = await service.revisions('ev1', 5, 100);
    expect(shown(items)).toEqual(['3/1:']);
  });
});

describe('redact', () => {
  it('deletes a live entry as one new change, marked redacted, and blanks its text on every line of the log', async () => {
    // Prepare
    await live.publish(reporter, { action: 'publish', clientId: 'p3', text: `Call ${PHONE} now`, kind: 'text' });
    await live.pin(reporter, { action: 'pin', clientId: 'pin3', seq: 3, pinned: true });
    const before = lastChange();
    // Act
    const entry = await service.redact('ev1', 3);
    // Assess
    expect(entry).toMatchObject({ seq: 3, rev: 3, text: '', deleted: true, pinned: false, redacted: true });
    expect(lastChange()).toBe(before + 1);
    const line = entries.changes.get('ev1')!.at(-1)!;
    expect(line).toMatchObject({
      changeNo: before + 1,
      entry: { seq: 3, rev: 3, deleted: true, text: '', redacted: true },
    });
    expect(await entries.get('ev1', 3)).toMatchObject({ rev: 3, text: '', deleted: true, redacted: true });
    expect(JSON.stringify([...entries.changes.values(), ...entries.entries.values()])).not.toContain(
      `Call ${PHONE} now`,
    );
    // Nothing else was touched: entry 1's history (deleted, not redacted) is still the organiser's.
    expect(logLines().filter((l) => l.startsWith('1/'))).toEqual([
      `1/1:Lost child? Call ${PHONE}`,
      `1/2:Lost child? Call ${PHONE} (stage left)`,
      '1/3:',
    ]);
    expect(logLines().filter((l) => l.startsWith('2/'))).toEqual(['2/1:The ribbon is cut', '2/2:The ribbon is cut!']);
  });

  it('scrubs an entry the reporter had already deleted, with a new revision that marks it redacted', async () => {
    const entry = await service.redact('ev1', 1);
    expect(entry).toMatchObject({ seq: 1, rev: 4, deleted: true, text: '', redacted: true });
    expect(logLines().filter((l) => l.startsWith('1/'))).toEqual(['1/1:', '1/2:', '1/3:', '1/4:']);
    expect(
      entries.changes
        .get('ev1')!
        .filter((c) => c.entry.seq === 1)
        .every((c) => c.entry.redacted),
    ).toBe(true);
    const { items } = await service.revisions('ev1', 0, 100, 'organiser');
    expect(JSON.stringify(items)).not.toContain(PHONE);
  });

  it('is safe to repeat: a second redaction adds no revision and changes nothing', async () => {
    const first = await service.redact('ev1', 1);
    const log = JSON.stringify(entries.changes.get('ev1'));
    const at = lastChange();
    const second = await service.redact('ev1', 1);
    expect(second).toEqual(first);
    expect(lastChange()).toBe(at);
    expect(JSON.stringify(entries.changes.get('ev1'))).toBe(log);
  });

  it('finishes a scrub a failure cut short, when asked again', async () => {
    const scrub = entries.scrubRevisions.bind(entries);
    entries.scrubRevisions = async () => {
      throw new Error('DynamoDB timed out');
    };
    await expect(service.redact('ev1', 1)).rejects.toThrow('timed out');
    // Committed: the entry is gone from every page, though its old lines still hold the text.
    expect(await entries.get('ev1', 1)).toMatchObject({ deleted: true, redacted: true });
    entries.scrubRevisions = scrub;
    await service.redact('ev1', 1);
    expect(JSON.stringify(entries.changes.get('ev1'))).not.toContain(PHONE);
  });

  it('carries the entry’s repost total, as the timeline does', async () => {
    expect(await service.redact('ev1', 2)).toMatchObject({ seq: 2, reposts: 7, deleted: true });
  });

  it('loses no text to an edit that commits while it reads: it tries again on the newer revision', async () => {
    await live.publish(reporter, { action: 'publish', clientId: 'p3', text: 'Meet at the gate', kind: 'text' });
    const commit = entries.commitRedaction.bind(entries);
    let raced = false;
    entries.commitRedaction = async (eventId, expected, entry) => {
      if (!raced) {
        raced = true;
        await live.edit(reporter, { action: 'edit', clientId: 'e3', seq: 3, text: `Meet at the gate, ${PHONE}` });
      }
      return commit(eventId, expected, entry);
    };
    const entry = await service.redact('ev1', 3);
    expect(entry).toMatchObject({ seq: 3, rev: 3, deleted: true, redacted: true });
    expect(logLines().filter((l) => l.startsWith('3/'))).toEqual(['3/1:', '3/2:', '3/3:']);
    // The reporter cannot bring it back.
    const err = await refusal(live.edit(reporter, { action: 'edit', clientId: 'e3b', seq: 3, text: PHONE }));
    expect(err.code).toBe('conflict');
  });

  it('refuses an unknown entry or event, and a seq that is not one, changing nothing', async () => {
    const log = JSON.stringify(entries.changes.get('ev1'));
    const at = lastChange();
    expect((await refusal(service.redact('ev1', 99))).code).toBe('not_found');
    expect((await refusal(service.redact('nope', 1))).code).toBe('not_found');
    for (const seq of [0, -1, 1.5, Number.NaN])
      expect((await refusal(service.redact('ev1', seq))).code).toBe('bad_request');
    expect(lastChange()).toBe(at);
    expect(JSON.stringify(entries.changes.get('ev1'))).toBe(log);
  });
});
