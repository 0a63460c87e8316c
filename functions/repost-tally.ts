// The Reposts table's stream trigger: counts each batch of new reposts exactly, per event, and runs
// the spike detector over the seconds that have settled.
import middy from '@middy/core';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import type { StreamedRepost } from '../shared/domain/ports';
import { tallyReposts } from '../shared/domain/reposts/repost-service';
import { container } from './lib/container';

async function main(event: DynamoDBStreamEvent): Promise<{ counted: number; spikes: number }> {
  const byEvent = new Map<string, StreamedRepost[]>();
  for (const record of event.Records) {
    // Reposts are only ever inserted; anything else is not a repost to count.
    if (record.eventName !== 'INSERT' || !record.dynamodb?.NewImage || !record.dynamodb.SequenceNumber) continue;
    const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>);
    const repost: StreamedRepost = {
      eventId: String(item.eventId),
      seq: Number(item.seq),
      connectionId: String(item.connectionId),
      at: Number(item.at),
      sequence: record.dynamodb.SequenceNumber,
    };
    const list = byEvent.get(repost.eventId) ?? [];
    list.push(repost);
    byEvent.set(repost.eventId, list);
  }
  const c = container();
  let counted = 0;
  let spikes = 0;
  // A throw makes the event source retry the batch (or its halves); what was counted is skipped then.
  for (const [eventId, reposts] of byEvent) {
    const r = await tallyReposts(eventId, reposts, { reposts: c.repostStore, entries: c.entries, now: Date.now, log: c.log });
    counted += r.counted;
    spikes += r.spikes.length;
  }
  return { counted, spikes };
}

export const handler = middy(main);
