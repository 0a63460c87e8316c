// Rotating the operator token, in the domain: the old token admits nobody, and a reporter admitted
// with it is refused at its next write — even one that goes straight to the transaction on counters
// it remembers — at no extra read per write.
import { beforeEach, describe, expect, it } from 'vitest';
import { EventService } from '../../shared/domain/event-service';
import { type Caller, LiveService } from '../../shared/domain/live-service';
import {
  FakeEntries,
  FakeEvents,
  FakeGateway,
  FakeViewerCounts,
  eventRecord,
  fixedClock,
  silentLog,
} from '../support/fakes';
import { hashToken } from '../../shared/domain/secrets';
import { refusal } from '../support/refusal';

/** Counts the event reads, to show a write does not read the event first. */
class CountingEvents extends FakeEvents {
  reads = 0;
  override async get(eventId: string) {
    this.reads++;
    return super.get(eventId);
  }
}

let events: CountingEvents;
let entries: FakeEntries;
let live: LiveService;
let service: EventService;
const FIRST = 'first-operator-token';

beforeEach(async () => {
  events = new CountingEvents();
  entries = new FakeEntries(events);
  const clock = fixedClock();
  live = new LiveService({ events, entries, changes: entries, gateway: new FakeGateway(), clock, log: silentLog });
  const reposts = { totals: async () => new Map<number, number>(), seconds: async () => [], spikes: async () => [] };
  service = new EventService({ events, entries, changes: entries, clock, reposts, viewers: new FakeViewerCounts() });
  await events.create(eventRecord('ev1', { tokenHash: hashToken(FIRST) }));
});

const publish = (caller: Caller, clientId: string) =>
  live.publish(caller, { action: 'publish', clientId, text: clientId, kind: 'text' });

describe('rotateToken', () => {
  it('replaces the token: the old one is unauthorized, the new one admits a reporter of the next generation', async () => {
    expect(await service.admit('ev1', FIRST)).toEqual({ role: 'reporter', tokenGen: 0 });
    const { operatorToken } = await service.rotateToken('ev1');
    expect(operatorToken).not.toBe(FIRST);
    expect((await refusal(service.admit('ev1', FIRST))).code).toBe('unauthorized');
    expect(await service.admit('ev1', operatorToken)).toEqual({ role: 'reporter', tokenGen: 1 });
    expect(await service.roleFor('ev1', undefined)).toBe('viewer');
    // Only the hash is kept.
    expect(JSON.stringify(events.items.get('ev1'))).not.toContain(operatorToken);
  });

  it('is not_found for an unknown or malformed event, and creates nothing', async () => {
    expect((await refusal(service.rotateToken('nope'))).code).toBe('not_found');
    expect((await refusal(service.rotateToken('../ev1'))).code).toBe('not_found');
    expect([...events.items.keys()]).toEqual(['ev1']);
  });
});

describe('a reporter admitted with a replaced token', () => {
  it('is refused at its next write though its counters are remembered; nothing is stored', async () => {
    const old = { connectionId: 'old', eventId: 'ev1', role: 'reporter' as const, tokenGen: 0 };
    await publish(old, 'o1');
    await publish(old, 'o2');
    await publish(old, 'o3');
    // One read for three writes: the remembered counters are used, and the token check adds none.
    expect(events.reads).toBe(1);

    const { operatorToken } = await service.rotateToken('ev1');
    for (const attempt of [
      () => publish(old, 'o4'),
      () => live.edit(old, { action: 'edit', clientId: 'o5', seq: 1, text: 'edited' }),
      () => live.pin(old, { action: 'pin', clientId: 'o6', seq: 1, pinned: true }),
      () => live.delete(old, { action: 'delete', clientId: 'o7', seq: 1 }),
    ]) {
      const err = await refusal(attempt());
      expect(err.code).toBe('forbidden');
      expect(err.message).toMatch(/replaced.*reconnect with the new token/);
    }
    expect(events.items.get('ev1')).toMatchObject({ lastSeq: 3, lastChange: 3 });
    expect((entries.changes.get('ev1') ?? []).map((c) => c.entry.seq)).toEqual([1, 2, 3]);

    const { tokenGen } = await service.admit('ev1', operatorToken);
    const next = {
      connectionId: 'new',
      eventId: 'ev1',
      role: 'reporter' as const,
      ...(tokenGen !== undefined ? { tokenGen } : {}),
    };
    expect(await publish(next, 'n1')).toMatchObject({ seq: 4, rev: 1 });
  });

  it('a reporter admitted before generations existed (none in its context) writes as generation 0 until a rotation', async () => {
    const legacy: Caller = { connectionId: 'legacy', eventId: 'ev1', role: 'reporter' };
    expect(await publish(legacy, 'l1')).toMatchObject({ seq: 1 });
    await service.rotateToken('ev1');
    expect((await refusal(publish(legacy, 'l2'))).code).toBe('forbidden');
  });
});
