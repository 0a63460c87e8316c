// The Connections table's stream trigger: an event whose audience moved gets a stats frame with its
// viewer count (at most one a second; the last one after a wave of connects or disconnects too).
import middy from '@middy/core';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { publishStats } from '../shared/domain/reposts/repost-service';
import { container } from './lib/container';

async function main(event: DynamoDBStreamEvent): Promise<{ events: number }> {
  const eventIds = new Set<string>();
  for (const record of event.Records) {
    if (record.eventName !== 'INSERT' && record.eventName !== 'REMOVE') continue;
    // The partition key is `<eventId>#<shard>`.
    const pk = record.dynamodb?.Keys?.pk?.S;
    if (pk && pk.includes('#')) eventIds.add(pk.slice(0, pk.lastIndexOf('#')));
  }
  const c = container();
  // A throw makes the event source retry the batch: at worst one more stats frame.
  await Promise.all([...eventIds].map((eventId) => publishStats(eventId, new Set(), { reposts: c.repostStore, entries: c.entries, now: Date.now }, { viewersChanged: true })));
  return { events: eventIds.size };
}

export const handler = middy(main);
