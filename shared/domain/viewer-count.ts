// The viewer count, kept off the event item: counted from the Connections table's stream, per
// connection partition (`<eventId>#<shard>`), exactly once however Lambda retries or splits a batch.
//
// Rules: a viewer row's INSERT is +1 and its REMOVE is −1, whoever removed it — `$disconnect`, a
// 410 found by delivery, or TTL (whose REMOVE carries the principal dynamodb.amazonaws.com); a
// reporter's row never counts; a MODIFY changes nothing. Exactly once: each partition's counter keeps
// a watermark, the stream sequence number of the last record it holds, moved in the same write as
// the count. The stream hands one partition's records over in order, so a record at or below the
// watermark is already in the count, and one above it is not.
import type { Role } from './protocol';

/** A connection row appearing or disappearing, as the Connections stream tells it. */
export interface PresenceChange {
  eventId: string;
  /** The row's partition, `<eventId>#<shard>`: the unit a watermark covers. */
  partition: string;
  kind: 'connected' | 'disconnected';
  role: Role;
  /** The stream record's sequence number (a decimal string of up to 40 digits). */
  sequence: string;
}

/** What one partition's counter must take: `delta` from the records after `from` up to `to` (both padded). */
export interface CounterStep {
  partition: string;
  delta: number;
  /** The first record this step counts: the watermark must be below it for the step to apply. */
  first: string;
  /** The watermark after the step. */
  last: string;
  records: number;
}

/** Sequence numbers are decimal strings of up to 40 digits: padded, they compare as strings. */
export const padSequence = (sequence: string) => sequence.padStart(40, '0');

/** What a change does to the count: only viewers count. */
export const deltaOf = (change: Pick<PresenceChange, 'kind' | 'role'>): number =>
  change.role !== 'viewer' ? 0 : change.kind === 'connected' ? 1 : -1;

/**
 * Per partition, the step that brings its counter up to the newest of `changes`, counting only the
 * records after its watermark (`marks`: partition → padded sequence; absent: nothing counted yet).
 * A partition none of whose records is new gets no step. Records that change nothing (a reporter's)
 * still move the watermark, so a partition's steps stay in stream order.
 */
export function counterSteps(changes: readonly PresenceChange[], marks: ReadonlyMap<string, string>): CounterStep[] {
  const steps = new Map<string, CounterStep>();
  for (const change of changes) {
    const sequence = padSequence(change.sequence);
    const mark = marks.get(change.partition);
    if (mark !== undefined && sequence <= mark) continue;
    const step = steps.get(change.partition);
    if (!step) {
      steps.set(change.partition, {
        partition: change.partition,
        delta: deltaOf(change),
        first: sequence,
        last: sequence,
        records: 1,
      });
      continue;
    }
    // Lambda hands a shard's records over in order; a record out of order would mean the watermark
    // could skip an uncounted one, so refuse the batch (it is retried) rather than miscount.
    if (sequence <= step.last)
      throw new Error(`stream records of ${change.partition} out of order: ${change.sequence} after ${step.last}`);
    step.delta += deltaOf(change);
    step.last = sequence;
    step.records++;
  }
  return [...steps.values()];
}

/** The audience shown: never negative (counters of rows that existed before counting began can go below 0). */
export const shownViewers = (sum: number) => Math.max(0, sum);
