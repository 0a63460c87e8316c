// The Changes table's stream trigger: every batch of new changes wakes delivery for their events.
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { wakeEvents } from '../shared/domain/delivery/wake';
import { container } from './lib/container';
import { workers } from './lib/workers';
import { batchResponse, keyedRecords } from './lib/stream-batch';
import { observe } from './lib/observe';

/**
 * Per event: a failed one is retried from its first record (with what follows it, as the shard is
 * read in order); the watch list write failing throws, and the whole batch is retried.
 */
export async function wakeBatch(
  event: DynamoDBStreamEvent,
  deps: Parameters<typeof wakeEvents>[1],
): Promise<DynamoDBBatchResponse> {
  const records = keyedRecords(event.Records, (r) => r.dynamodb?.Keys?.eventId?.S);
  const { failed } = await wakeEvents(
    records.flatMap((r) => (r.key ? [r.key] : [])),
    deps,
  );
  return batchResponse(records, failed);
}

async function main(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const { leases, watch, log } = container();
  return wakeBatch(event, { leases, watch, starter: workers(), log, now: Date.now });
}

export const handler = middy(main).use(observe());
