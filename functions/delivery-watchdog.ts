// Once a minute (EventBridge), and then every few seconds for most of that minute: wakes the
// delivery of events whose wake-up was lost, so a viewer gets the change within seconds anyway.
import { setTimeout as sleep } from 'node:timers/promises';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { DeliveryWatchdog } from '../shared/domain/delivery/watchdog';
import { deliveryWatchdog as def } from '../shared/routes';
import { container } from './lib/container';
import { workers } from './lib/workers';
import { observe } from './lib/observe';

/** Stop checking this long before the function's timeout. */
const MARGIN_MS = 5_000;

async function main(_event: unknown, context: Context): Promise<{ checks: number; woken: number }> {
  const c = container();
  const dog = new DeliveryWatchdog(
    { watch: c.watch, leases: c.leases, events: c.eventStore, starter: workers(), log: c.log, now: Date.now },
    { watchForMs: def.watchForMinutes * 60_000 },
  );
  const until = Date.now() + def.runSeconds * 1000;
  const everyMs = def.checkEverySeconds * 1000;
  const timeLeft = () => Math.min(until - Date.now(), context.getRemainingTimeInMillis() - MARGIN_MS);
  let checks = 0;
  let woken = 0;
  for (;;) {
    const report = await dog.check();
    checks++;
    woken += report.woken;
    // Nothing live: end here; the next minute's run looks again (an idle deployment costs one short run a minute).
    if (report.watched === 0) break;
    // Sleep in short steps, so a shortened deadline (the local stage stopping) is seen at once.
    const next = Date.now() + everyMs;
    while (Date.now() < next && timeLeft() > 0) await sleep(Math.min(250, next - Date.now()));
    if (timeLeft() <= 0) break;
  }
  if (woken > 0) c.log.info('delivery watchdog run', { checks, woken });
  return { checks, woken };
}

export const handler = middy(main).use(observe());
