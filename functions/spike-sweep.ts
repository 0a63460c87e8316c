// Once a minute (EventBridge): ends the spikes whose wave has passed with no repost or read since.
import middy from '@middy/core';
import { sweepOpenSpikes } from '../shared/domain/reposts/repost-service';
import { container } from './lib/container';

async function main(): Promise<{ judged: number; ended: number }> {
  const c = container();
  return sweepOpenSpikes({ reposts: c.repostStore, entries: c.entries, now: Date.now, log: c.log }, c.config.spikeSweepQuietMs);
}

export const handler = middy(main);
