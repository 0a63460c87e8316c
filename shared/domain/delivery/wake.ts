// Waking delivery up: for each event that has new changes, start a worker on every shard that has none.
import { CONNECTION_SHARDS } from '../sharding';
import type { Clock, DeliveryWatch, LeaseStore, Logger, WorkerStarter } from '../ports';

export const ALL_SHARDS: readonly number[] = Array.from({ length: CONNECTION_SHARDS }, (_, i) => i);

/**
 * A worker that is running will find the new changes on its next sweep; a shard without one gets a
 * fresh worker. Two starts for one shard are harmless: the second finds the lease taken and ends.
 */
export async function wakeDelivery(
  eventIds: Iterable<string>,
  deps: { leases: LeaseStore; starter: WorkerStarter; log: Logger },
  shards: readonly number[] = ALL_SHARDS,
): Promise<number> {
  let started = 0;
  for (const eventId of new Set(eventIds)) {
    const held = await deps.leases.held(eventId, shards);
    const idle = shards.filter((s) => !held.has(s));
    await Promise.all(idle.map((shard) => deps.starter.start(eventId, shard)));
    started += idle.length;
  }
  if (started > 0) deps.log.debug('delivery woken', { started });
  return started;
}

/**
 * The wake-up trigger's work for one batch: put its events on the watchdog's list first (if that
 * fails, nothing is done and the whole batch is retried: a wake-up the watchdog does not know of
 * could not heal), then wake each event on its own, so one event's failure does not hold back the
 * others. Answers the events whose wake-up failed.
 */
export async function wakeEvents(
  eventIds: Iterable<string>,
  deps: { leases: LeaseStore; watch: DeliveryWatch; starter: WorkerStarter; log: Logger; now: Clock },
): Promise<{ started: number; failed: Set<string> }> {
  const ids = [...new Set(eventIds)];
  await deps.watch.watch(ids, deps.now());
  const failed = new Set<string>();
  let started = 0;
  await Promise.all(
    ids.map(async (eventId) => {
      try {
        const n = await wakeDelivery([eventId], deps);
        started += n;
      } catch (err) {
        failed.add(eventId);
        deps.log.warn('delivery wake-up failed', { eventId, error: err });
      }
    }),
  );
  return { started, failed };
}
