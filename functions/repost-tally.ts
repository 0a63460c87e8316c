// The Reposts table's stream trigger: counts each batch of new reposts exactly, per event, and runs
// the spike detector over the seconds that have settled.
import middy from '@middy/core';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { StreamedRepost } from '../shared/domain/ports';
import type { Logger } from '../shared/domain/ports';
import type { RepostTally } from '../shared/domain/reposts/repost-tally';
import { container } from './lib/container';
import { batchResponse, type KeyedRecord } from './lib/stream-batch';
import { observe } from './lib/observe';
import { tallyMetrics } from './lib/observe-tally';
import { telemetry } from '../shared/observability/telemetry';

/**
 * A repost as the stream carries it; anything but an insert is not a repost to count — above all
 * the REMOVE records of rows whose TTL (30 days) ran out: the counts keep them.
 */
export function repostOf(record: DynamoDBRecord): StreamedRepost | undefined {
  if (record.eventName !== 'INSERT' || !record.dynamodb?.NewImage || !record.dynamodb.SequenceNumber) return undefined;
  const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>);
  return {
    eventId: String(item.eventId),
    seq: Number(item.seq),
    connectionId: String(item.connectionId),
    at: Number(item.at),
    // Rows from before viewer ids have neither: they count per connection, as then.
    ...(typeof item.voter === 'string' ? { voter: item.voter } : {}),
    ...(typeof item.source === 'string' ? { source: item.source } : {}),
    sequence: record.dynamodb.SequenceNumber,
  };
}

export async function tallyBatch(
  event: DynamoDBStreamEvent,
  deps: { tally: Pick<RepostTally, 'tally'>; log: Logger },
  /** Told of each event's reposts once tallied, and how many were new (metrics). */
  onTallied?: (reposts: readonly StreamedRepost[], counted: number) => void,
): Promise<DynamoDBBatchResponse> {
  const byEvent = new Map<string, StreamedRepost[]>();
  const records: KeyedRecord[] = [];
  for (const record of event.Records) {
    const repost = repostOf(record);
    const sequenceNumber = record.dynamodb?.SequenceNumber;
    if (sequenceNumber) records.push({ key: repost?.eventId, sequenceNumber });
    if (!repost) continue;
    const list = byEvent.get(repost.eventId) ?? [];
    list.push(repost);
    byEvent.set(repost.eventId, list);
  }
  let counted = 0;
  let spikes = 0;
  const failed = new Set<string>();
  // A repost partition (`eventId#shard`) belongs to one event, so events are independent: one that
  // fails does not stop the others. It is retried from its first record on, whole: the watermark
  // skips what a part-committed tally already counted, and none of its later reposts can be counted
  // ahead of an earlier one.
  for (const [eventId, reposts] of byEvent) {
    try {
      const r = await deps.tally.tally(eventId, reposts);
      counted += r.counted;
      onTallied?.(reposts, r.counted);
      spikes += r.spikes.length;
    } catch (err) {
      failed.add(eventId);
      deps.log.warn('repost tally failed', { eventId, error: err });
    }
  }
  deps.log.debug('reposts tallied', { counted, spikes, failedEvents: failed.size });
  // Exactly Lambda's response shape: anything it cannot read as one fails the whole batch.
  return batchResponse(records, failed);
}

async function main(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const c = container();
  const metrics = tallyMetrics(telemetry().metrics, Date.now);
  return tallyBatch(event, { tally: c.tally, log: c.log }, metrics.tallied).finally(metrics.done);
}

export const handler = middy(main).use(observe({ metrics: true }));
