// Reserved concurrency for the functions an audience can crowd out: the handshake pair, publish and
// the delivery worker. Reserving both guarantees them their share of the account's executions and
// caps them, so a reconnect wave cannot take what publish and delivery need (docs/operations.md).
import type { CfnFunction, IFunction } from 'aws-cdk-lib/aws-lambda';
import { CONNECTION_SHARDS } from '../shared/domain/sharding';

export interface CapacityInputs {
  /** publish's route throttle (WS_ROUTE_THROTTLES.publish): no more publishes a second reach the function. */
  readonly publishRate: number;
  /** Events delivering at the same time on this stage. @default 4 */
  readonly concurrentEvents?: number;
  /** Seconds one handshake call (authorizer, then `$connect`) may take at the wave's rate before it is throttled. @default 0.2 */
  readonly handshakeSeconds?: number;
  /** Seconds one publish (a read, a transaction) may take at publish's route throttle. @default 0.1 */
  readonly publishSeconds?: number;
}

/** AWS's new WebSocket connections per second per account and region (DESIGN.md): no wave is faster. */
export const CONNECT_RATE = 500;

export interface ReservedConcurrency {
  readonly WsAuthorizer: number;
  readonly WsConnect: number;
  readonly WsPublish: number;
  readonly DeliveryWorker: number;
}

/**
 * Little's law, concurrency = rate × duration, at each function's ceiling rate:
 *  - the authorizer and `$connect` each run once per handshake, at most CONNECT_RATE a second
 *    (also `$connect`'s route throttle): 500 × 0.2 s = 100 each;
 *  - publish at its route throttle (400/s) × 0.1 s = 40;
 *  - the worker: one per connection shard per event, twice over — a worker handing over to its
 *    successor, or a retry or the watchdog's start finding the lease still held, overlaps one for a
 *    moment: 16 × 4 events × 2 = 128.
 */
export function reservedConcurrency(inputs: CapacityInputs): ReservedConcurrency {
  const events = inputs.concurrentEvents ?? 4;
  const handshake = inputs.handshakeSeconds ?? 0.2;
  const publish = inputs.publishSeconds ?? 0.1;
  const publishRate = inputs.publishRate;
  for (const [name, value] of [
    ['concurrentEvents', events],
    ['handshakeSeconds', handshake],
    ['publishSeconds', publish],
    ['publishRate', publishRate],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`capacity: ${name} must be a positive number, got ${value}`);
  }
  if (!Number.isInteger(events)) throw new Error(`capacity: concurrentEvents must be a whole number, got ${events}`);
  const perHandshake = Math.ceil(CONNECT_RATE * handshake);
  return {
    WsAuthorizer: perHandshake,
    WsConnect: perHandshake,
    WsPublish: Math.ceil(publishRate * publish),
    DeliveryWorker: CONNECTION_SHARDS * events * 2,
  };
}

/** Lambda keeps 100 executions unreserved per account; with AWS's default 1,000 that leaves 900 to reserve. */
export const UNRESERVED_MINIMUM = 100;

export function applyReservedConcurrency(
  functions: Readonly<Record<string, IFunction>>,
  sizes: ReservedConcurrency,
): void {
  for (const id of Object.keys(sizes) as (keyof ReservedConcurrency)[]) {
    const size = sizes[id];
    const fn = functions[id];
    if (!fn) throw new Error(`capacity: no function '${id}' to reserve concurrency for (shared/routes.ts ids)`);
    // The L2 takes it only at construction, where the shared function shape is made; set on the resource.
    (fn.node.defaultChild as CfnFunction).reservedConcurrentExecutions = size;
  }
}
