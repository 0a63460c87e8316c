// Per-record failure reporting for the stream triggers (the event source mappings have
// ReportBatchItemFailures on): which record Lambda must retry from.
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';

/** A stream record with the key its work is grouped by (an event), or none when it needs no work. */
export interface KeyedRecord {
  readonly key: string | undefined;
  readonly sequenceNumber: string;
}

export function keyedRecords(
  records: readonly DynamoDBRecord[],
  keyOf: (record: DynamoDBRecord) => string | undefined,
): KeyedRecord[] {
  return records.flatMap((record) => {
    const sequenceNumber = record.dynamodb?.SequenceNumber;
    return sequenceNumber ? [{ key: keyOf(record), sequenceNumber }] : [];
  });
}

/**
 * The answer for a batch whose work failed for some keys. Lambda reads a shard in order and, given
 * a failed record, checkpoints before it and retries everything from it: so the answer is the
 * first record (in batch order) of any failed key. Records of keys that succeeded after it come
 * again; the work done per key must be safe to repeat (a wake-up starts no second worker, a stats
 * frame is guarded, the tally's watermark skips what it counted). Records of a failed key are
 * never checkpointed past, so no later record of a key commits ahead of an earlier one left behind.
 */
export function batchResponse(records: readonly KeyedRecord[], failedKeys: ReadonlySet<string>): DynamoDBBatchResponse {
  const first = records.find((r) => r.key !== undefined && failedKeys.has(r.key));
  return { batchItemFailures: first ? [{ itemIdentifier: first.sequenceNumber }] : [] };
}
