// A ceremony on a virtual clock: one shard's real delivery worker, with fakes of its ports, while
// updates and live counts land on a schedule. Minutes of an event run in a second or two, and what the
// worker posted is counted per viewer with the virtual time it was posted at.
import { setImmediate } from 'node:timers/promises';
import {
  defaultWorkerOptions,
  runDeliveryWorker,
  type WorkerOptions,
  type WorkerReport,
} from '../../shared/domain/delivery/worker';
import { LiveService, type Caller } from '../../shared/domain/live-service';
import type { ServerFrame } from '../../shared/domain/protocol';
import {
  eventRecord,
  FakeConnections,
  FakeEntries,
  FakeEvents,
  FakeGateway,
  FakeLeases,
  fixedClock,
  silentLog,
} from './fakes';

/** A clock that moves only when someone sleeps, running what is scheduled on the way. */
export function virtualClock() {
  let t = 0;
  const due: { at: number; run: () => Promise<unknown> }[] = [];
  return {
    now: () => t,
    at(at: number, run: () => Promise<unknown>) {
      due.push({ at, run });
      due.sort((a, b) => a.at - b.at);
    },
    // An arrow, not a method: the worker is handed `clock.sleep` on its own.
    sleep: async (ms: number): Promise<void> => {
      const until = t + ms;
      while (due.length > 0 && due[0]!.at <= until) {
        const next = due.shift()!;
        t = Math.max(t, next.at);
        await next.run();
      }
      t = Math.max(t, until);
      await setImmediate(); // the worker's other tasks run before the clock moves on
    },
  };
}

export interface VirtualCeremony {
  /** Connections in the shard. */
  rows: number;
  /** Virtual times (ms) of the updates and of the stats lines. */
  updates: readonly number[];
  stats: readonly number[];
  options: Partial<WorkerOptions> & { ratePerSecond: number };
}

export interface Received {
  at: number;
  hasUpdate: boolean;
  hasStats: boolean;
}

export async function runVirtualCeremony(
  c: VirtualCeremony,
): Promise<{ received: Map<string, Received[]>; report: WorkerReport; statsAt: Map<number, number> }> {
  const clock = virtualClock();
  const events = new FakeEvents();
  const entries = new FakeEntries(events);
  const connections = new FakeConnections(1, 100);
  const gateway = new FakeGateway();
  const received = new Map<string, Received[]>();
  const decoder = new TextDecoder();
  const post = gateway.post.bind(gateway);
  gateway.post = async (connectionId, payload) => {
    const result = await post(connectionId, payload);
    const frame = JSON.parse(decoder.decode(payload)) as ServerFrame;
    const frames = frame.type === 'batch' ? frame.frames : [frame];
    const list = received.get(connectionId) ?? [];
    list.push({
      at: clock.now(),
      hasUpdate: frames.some((f) => f.type === 'update'),
      hasStats: frames.some((f) => f.type === 'stats'),
    });
    received.set(connectionId, list);
    return result;
  };
  const reporter: Caller = { connectionId: 'reporter', eventId: 'ev1', role: 'reporter' };
  const live = new LiveService({
    events,
    entries,
    changes: entries,
    gateway: new FakeGateway(),
    clock: fixedClock(),
    log: silentLog,
  });
  await events.create(eventRecord('ev1'));
  for (let i = 0; i < c.rows; i++)
    await connections.add({ eventId: 'ev1', connectionId: `v${i}`, role: 'viewer', connectedAt: 't', fromChange: 0 });

  /** changeNo of each stats line → the virtual time it landed. */
  const statsAt = new Map<number, number>();
  c.updates.forEach((at, i) =>
    clock.at(at, () =>
      live.publish(reporter, { action: 'publish', clientId: `u${i}`, text: `update ${i + 1}`, kind: 'text' }),
    ),
  );
  c.stats.forEach((at, i) =>
    clock.at(at, async () => {
      const r = await entries.appendFrame('ev1', () => ({
        type: 'stats',
        eventId: 'ev1',
        viewers: c.rows,
        reposts: { '1': i + 1 },
        at: String(at),
      }));
      if (r.appended) statsAt.set(r.changeNo, at);
    }),
  );
  // The worker starts with the first change, as the wake-up would start it.
  await clock.sleep(Math.min(c.updates[0] ?? Infinity, c.stats[0] ?? Infinity));
  const report = await runDeliveryWorker(
    'ev1',
    0,
    {
      changes: entries,
      connections,
      gateway,
      leases: new FakeLeases(),
      successor: { start: async () => {} },
      log: silentLog,
      now: clock.now,
      sleep: clock.sleep,
    },
    { ...defaultWorkerOptions, maxRunMs: Infinity, ...c.options },
  );
  return { received, report, statsAt };
}
