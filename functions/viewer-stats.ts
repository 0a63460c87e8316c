// The Connections table's stream trigger: an event whose audience moved gets a stats frame with its
// viewer count (at most one a second; the last one after a wave of connects or disconnects too).
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { publishStats, type TallyDeps } from '../shared/domain/reposts/repost-service';
import { container } from './lib/container';
import { batchResponse, keyedRecords } from './lib/stream-batch';
import { observe } from './lib/observe';

/** The event whose audience a record moved: connects and disconnects only; the partition key is `<eventId>#<shard>`. */
function eventOf(record: DynamoDBRecord): string | undefined {
  if (record.eventName !== 'INSERT' && record.eventName !== 'REMOVE') return undefined;
  const pk = record.dynamodb?.Keys?.pk?.S;
  return pk && pk.includes('#') ? pk.slice(0, pk.lastIndexOf('#')) : undefined;
}

/** Per event: a failed one is retried from its first record; a retry costs at most one more stats frame. */
export async function statsBatch(event: DynamoDBStreamEvent, deps: Pick<TallyDeps, 'reposts' | 'entries' | 'now' | 'log'>): Promise<DynamoDBBatchResponse> {
  const records = keyedRecords(event.Records, eventOf);
  const eventIds = new Set(records.flatMap((r) => (r.key ? [r.key] : [])));
  const failed = new Set<string>();
  await Promise.all(
    [...eventIds].map((eventId) =>
      publishStats(eventId, new Set(), deps, { viewersChanged: true }).catch((err: unknown) => {
        failed.add(eventId);
        deps.log.warn('viewer stats failed', { eventId, error: err });
      }),
    ),
  );
  return batchResponse(records, failed);
}

async function main(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const c = container();
  return statsBatch(event, { reposts: c.repostStore, entries: c.entries, now: Date.now, log: c.log });
}

export const handler = middy(main).use(observe());
