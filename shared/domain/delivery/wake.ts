// Waking delivery up: for each event that has new changes, start a worker on every shard that has none.
import { CONNECTION_SHARDS } from '../../tables';
import type { LeaseStore, Logger, WorkerStarter } from '../ports';

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
