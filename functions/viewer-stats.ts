// The Connections table's stream trigger: counts each connect and disconnect of a viewer — TTL's
// removals included — into the event's viewer counters, exactly once (shared/domain/viewer-count.ts),
// then sends each event whose audience moved a stats frame (at most one a second; the last one after
// a wave of connects or disconnects too).
import middy from '@middy/core';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { Logger, ViewerCounts } from '../shared/domain/ports';
import type { StatsPublisher } from '../shared/domain/stats-publisher';
import type { PresenceChange } from '../shared/domain/viewer-count';
import { container } from './lib/container';
import { batchResponse, type KeyedRecord } from './lib/stream-batch';
import { observe } from './lib/observe';

/**
 * A row appearing or disappearing, read from the record's image (the stream carries new and old
 * images: an INSERT's role is in its new image, a REMOVE's in its old one). A MODIFY moves nobody.
 */
export function presenceOf(record: DynamoDBRecord): PresenceChange | undefined {
  const kind = record.eventName === 'INSERT' ? 'connected' : record.eventName === 'REMOVE' ? 'disconnected' : undefined;
  const image = kind === 'connected' ? record.dynamodb?.NewImage : record.dynamodb?.OldImage;
  const sequence = record.dynamodb?.SequenceNumber;
  if (!kind || !sequence) return undefined;
  // Without an image (a stream still keys-only) the role is unknown: a record that cannot be counted
  // right must not be counted wrong, nor skipped in silence: the batch fails and goes to the failure queue.
  if (!image)
    throw new Error(
      `Connections stream record ${sequence} has no ${kind === 'connected' ? 'new' : 'old'} image: the stream must carry NEW_AND_OLD_IMAGES`,
    );
  const row = unmarshall(image as Record<string, AttributeValue>);
  const partition = String(row.pk);
  return {
    eventId: typeof row.eventId === 'string' ? row.eventId : partition.slice(0, partition.lastIndexOf('#')),
    partition,
    kind,
    role: row.role === 'reporter' ? 'reporter' : 'viewer',
    sequence,
  };
}

export interface ViewerStatsDeps {
  viewers: Pick<ViewerCounts, 'apply'>;
  stats: Pick<StatsPublisher, 'publish'>;
  log: Logger;
}

/** Per event: a failed one is retried from its first record; the watermarks skip what was counted, a retry costs at most one more stats frame. */
export async function statsBatch(event: DynamoDBStreamEvent, deps: ViewerStatsDeps): Promise<DynamoDBBatchResponse> {
  const records: KeyedRecord[] = [];
  const byEvent = new Map<string, PresenceChange[]>();
  for (const record of event.Records) {
    const change = presenceOf(record);
    const sequenceNumber = record.dynamodb?.SequenceNumber;
    if (sequenceNumber) records.push({ key: change?.eventId, sequenceNumber });
    if (!change) continue;
    const list = byEvent.get(change.eventId) ?? [];
    list.push(change);
    byEvent.set(change.eventId, list);
  }
  const failed = new Set<string>();
  await Promise.all(
    [...byEvent].map(async ([eventId, changes]) => {
      try {
        await deps.viewers.apply(eventId, changes);
        // A reporter's comings and goings move no count: no frame for them.
        if (changes.some((c) => c.role === 'viewer'))
          await deps.stats.publish(eventId, new Set(), { viewersChanged: true });
      } catch (err) {
        failed.add(eventId);
        deps.log.warn('viewer count failed', { eventId, error: err });
      }
    }),
  );
  return batchResponse(records, failed);
}

async function main(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const c = container();
  return statsBatch(event, { viewers: c.viewerCounts, stats: c.stats, log: c.log });
}

export const handler = middy(main).use(observe());
