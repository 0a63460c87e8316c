// The viewer count from the Connections stream, on fakes: what counts (viewers in, viewers out —
// TTL's removals too — never a reporter), and exactly once however Lambda retries or splits a batch.
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { statsBatch } from '../../functions/viewer-stats';
import type { StatsFrame } from '../../shared/domain/protocol';
import { StatsPublisher } from '../../shared/domain/stats-publisher';
import { counterSteps } from '../../shared/domain/viewer-count';
import { eventRecord, FakeEntries, FakeEvents, FakeViewerCounts, silentLog } from '../support/fakes';

const seqNo = (n: number) => String(n).padStart(21, '0');
const batch = (records: readonly DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: structuredClone([...records]) });
const TTL = { type: 'Service', principalId: 'dynamodb.amazonaws.com' };

let nextSeq = 100;
/** A Connections stream record as Lambda delivers it with NEW_AND_OLD_IMAGES. */
function record(
  eventName: 'INSERT' | 'REMOVE' | 'MODIFY',
  eventId: string,
  shard: number,
  id: string,
  role: 'viewer' | 'reporter' = 'viewer',
  by?: typeof TTL,
): DynamoDBRecord {
  const row = { pk: { S: `${eventId}#${shard}` }, connectionId: { S: id }, eventId: { S: eventId }, role: { S: role } };
  return {
    eventName,
    ...(by ? { userIdentity: by } : {}),
    dynamodb: {
      Keys: { pk: row.pk, connectionId: row.connectionId },
      ...(eventName !== 'REMOVE' ? { NewImage: row } : {}),
      ...(eventName !== 'INSERT' ? { OldImage: row } : {}),
      SequenceNumber: seqNo((nextSeq += 7)),
    },
  };
}

async function world() {
  const events = new FakeEvents();
  const entries = new FakeEntries(events);
  await events.create(eventRecord('ev1'));
  await events.create(eventRecord('ev2'));
  const viewers = new FakeViewerCounts();
  // A fresh clock each call far apart: the 1-second guard never holds a frame back here.
  let t = 1_780_000_000_000;
  const stats = new StatsPublisher({
    reposts: { totals: async () => new Map<number, number>() },
    entries,
    viewers,
    now: () => (t += 5_000),
  });
  const deps = { viewers, stats, log: silentLog };
  const lastStats = (eventId: string) =>
    (entries.frameLines.get(eventId) ?? []).map((l) => l.frame as StatsFrame).at(-1)?.viewers;
  return { viewers, deps, lastStats };
}

/** What Lambda does with a batch: retry from the failed record on, until none fails. */
async function asLambda(records: readonly DynamoDBRecord[], deps: Parameters<typeof statsBatch>[1]): Promise<number> {
  let rest = records;
  let failures = 0;
  for (let attempt = 0; attempt < 5 && rest.length > 0; attempt++) {
    const from = (await statsBatch(batch(rest), deps)).batchItemFailures[0]?.itemIdentifier;
    if (from === undefined) return failures;
    failures++;
    rest = rest.slice(rest.findIndex((r) => r.dynamodb?.SequenceNumber === from));
  }
  throw new Error('the batch never went through');
}

describe('the viewer count from the Connections stream', () => {
  it('counts viewers in and out, TTL removals included, and never a reporter or a MODIFY', async () => {
    const w = await world();
    const records = [
      record('INSERT', 'ev1', 0, 'r1', 'reporter'),
      ...['a', 'b', 'c', 'd', 'e'].map((id, i) => record('INSERT', 'ev1', i % 3, id)),
      record('MODIFY', 'ev1', 1, 'b'),
      record('REMOVE', 'ev1', 0, 'a'), // $disconnect
      record('REMOVE', 'ev1', 1, 'b', 'viewer', TTL), // no $disconnect ever came: TTL removed the row
      record('REMOVE', 'ev1', 0, 'r1', 'reporter', TTL),
      record('INSERT', 'ev2', 4, 'x'),
    ];
    expect(await statsBatch(batch(records), w.deps)).toEqual({ batchItemFailures: [] });
    expect(await w.viewers.count('ev1')).toBe(3);
    expect(await w.viewers.count('ev2')).toBe(1);
    // Each event's viewers hear their own count.
    expect(w.lastStats('ev1')).toBe(3);
    expect(w.lastStats('ev2')).toBe(1);
  });

  it('counts a batch once when Lambda delivers it again, whole or bisected, and after a retry of its second half', async () => {
    const w = await world();
    const records = [
      ...Array.from({ length: 12 }, (_, i) => record('INSERT', 'ev1', i % 4, `v${i}`)),
      ...Array.from({ length: 5 }, (_, i) =>
        record('REMOVE', 'ev1', (i * 3) % 4, `v${(i * 3) % 12}`, 'viewer', i % 2 ? TTL : undefined),
      ),
    ];
    const half = Math.floor(records.length / 2);
    await statsBatch(batch(records.slice(0, half)), w.deps); // bisected: the first half
    await statsBatch(batch(records.slice(0, half)), w.deps); // …retried
    await statsBatch(batch(records), w.deps); // the whole batch again
    await statsBatch(batch(records.slice(half)), w.deps); // and its second half once more
    expect(await w.viewers.count('ev1')).toBe(12 - 5);
    expect(w.lastStats('ev1')).toBe(7);
  });

  it('retries a batch that failed after some partitions were counted, from the first record of the failed event, and counts it exactly', async () => {
    const w = await world();
    const records = [
      ...Array.from({ length: 8 }, (_, i) => record('INSERT', 'ev1', i % 4, `v${i}`)),
      ...Array.from({ length: 3 }, (_, i) => record('INSERT', 'ev2', i, `w${i}`)),
      record('REMOVE', 'ev1', 2, 'v2', 'viewer', TTL),
    ];
    w.viewers.failAfter = 2; // two of ev1's partitions (or ev2's) are written, then the call fails
    expect(await asLambda(records, w.deps)).toBe(1);
    expect(await w.viewers.count('ev1')).toBe(7);
    expect(await w.viewers.count('ev2')).toBe(3);
  });

  it('refuses, rather than miscounts, records of one partition out of stream order', () => {
    const a = { eventId: 'ev1', partition: 'ev1#0', kind: 'connected' as const, role: 'viewer' as const };
    expect(() =>
      counterSteps(
        [
          { ...a, sequence: '200' },
          { ...a, sequence: '150' },
        ],
        new Map(),
      ),
    ).toThrow(/out of order/);
  });

  it('fails a record that carries no image (a stream still keys-only) instead of guessing its role', async () => {
    const w = await world();
    const keysOnly: DynamoDBRecord = {
      eventName: 'INSERT',
      dynamodb: { Keys: { pk: { S: 'ev1#0' }, connectionId: { S: 'k' } }, SequenceNumber: seqNo(1) },
    };
    await expect(statsBatch(batch([keysOnly]), w.deps)).rejects.toThrow(/NEW_AND_OLD_IMAGES/);
    expect(await w.viewers.count('ev1')).toBe(0);
  });
});
