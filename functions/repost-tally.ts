// The Reposts table's stream trigger: counts each batch of new reposts exactly, per event, and runs
// the spike detector over the seconds that have settled.
import middy from '@middy/core';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import type { Repost } from '../shared/domain/ports';
import { tallyReposts } from '../shared/domain/reposts/repost-service';
import { container } from './lib/container';

async function main(event: DynamoDBStreamEvent): Promise<{ counted: number; spikes: number }> {
  const byEvent = new Map<string, Repost[]>();
  for (const record of event.Records) {
    // New reposts only: marking one counted is a MODIFY of the same item.
    if (record.eventName !== 'INSERT' || !record.dynamodb?.NewImage) continue;
    const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>);
    const repost: Repost = { eventId: String(item.eventId), seq: Number(item.seq), connectionId: String(item.connectionId), at: Number(item.at) };
    const list = byEvent.get(repost.eventId) ?? [];
    list.push(repost);
    byEvent.set(repost.eventId, list);
  }
  const c = container();
  let counted = 0;
  let spikes = 0;
  // A throw makes the event source retry the batch; reposts counted already are not counted again.
  for (const [eventId, reposts] of byEvent) {
    const r = await tallyReposts(eventId, reposts, { reposts: c.repostStore, now: Date.now, log: c.log });
    counted += r.counted;
    spikes += r.spikes.length;
  }
  return { counted, spikes };
}

export const handler = middy(main);
