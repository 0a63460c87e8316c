// A delivery worker for one (event, connection shard): invoked asynchronously by the wake-up trigger
// or by a worker handing over; runs until its shard has been idle a while.
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { runDeliveryWorker, defaultWorkerOptions, type WorkerReport } from '../shared/domain/delivery/worker';
import { CONNECTION_SHARDS } from '../shared/domain/sharding';
import { deliveryGateway } from './lib/connections-api';
import { container } from './lib/container';
import { deliveryPacing } from './lib/delivery-pacing';
import { workers } from './lib/workers';
import { deliveryMetrics } from './lib/observe-delivery';
import { observe } from './lib/observe';
import { tracing } from './lib/observe-trace';
import { telemetry } from '../shared/observability/telemetry';

const payload = z.object({
  eventId: z.string().min(1),
  shard: z
    .number()
    .int()
    .min(0)
    .max(CONNECTION_SHARDS - 1),
});

// On the global setTimeout, not node:timers/promises: with the latter, the first late joiner of
// test/integration/late-joiners.test.ts got its update ~1.6 s after the others in 4 runs of 4 (this
// sleep: 1 of 1 passed, as main did 3 of 3); the cause is not found yet.
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function main(event: unknown, context: Context): Promise<WorkerReport> {
  const { eventId, shard } = payload.parse(event);
  const c = container();
  const observer = deliveryMetrics(telemetry().metrics, Date.now);
  const pacing = deliveryPacing(c.config, c.budget);
  const report = await runDeliveryWorker(
    eventId,
    shard,
    {
      changes: c.changeLog,
      connections: c.connections,
      gateway: deliveryGateway(),
      leases: c.leases,
      successor: workers(),
      log: c.log,
      now: Date.now,
      sleep,
      timeLeftMs: () => context.getRemainingTimeInMillis(),
      observer,
      ...(pacing.budget ? { budget: pacing.budget } : {}),
    },
    {
      ...defaultWorkerOptions,
      ratePerSecond: pacing.ratePerSecond,
      maxInFlight: c.config.workerInFlight,
      idleExitMs: c.config.workerIdleMs,
      maxRunMs: c.config.workerMaxRunMs,
    },
  ).finally(() => observer.flush());
  c.log.info('delivery worker done', { eventId, shard, ...report });
  return report;
}

export const handler = middy(main).use(observe({ metrics: true, trace: tracing() }));
