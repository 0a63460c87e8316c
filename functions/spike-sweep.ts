// Once a minute (EventBridge): ends the spikes whose wave has passed with no repost since. (GET
// /reposts used to judge too; it only reads now: this and the tally are the only judges.)
import middy from '@middy/core';
import { sweepOpenSpikes } from '../shared/domain/reposts/repost-tally';
import { container } from './lib/container';
import { observe } from './lib/observe';

async function main(): Promise<{ judged: number; ended: number }> {
  const c = container();
  const rules = c.config.spikeRules ? { rules: c.config.spikeRules } : {};
  return sweepOpenSpikes(
    { reposts: c.repostStore, entries: c.entries, now: Date.now, log: c.log, ...rules },
    c.config.spikeSweepQuietMs,
  );
}

export const handler = middy(main).use(observe());
