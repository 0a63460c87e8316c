// The Changes table's stream trigger: every batch of new changes wakes delivery for their events.
import middy from '@middy/core';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { wakeDelivery } from '../shared/domain/delivery/wake';
import { container } from './lib/container';

async function main(event: DynamoDBStreamEvent): Promise<{ started: number }> {
  const eventIds = event.Records.map((r) => r.dynamodb?.Keys?.eventId?.S).filter((id): id is string => !!id);
  const { leases, workers, log } = container();
  // A throw here makes the event source retry the batch: no wake-up is lost.
  return { started: await wakeDelivery(eventIds, { leases, starter: workers, log }) };
}

export const handler = middy(main);
