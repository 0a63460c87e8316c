// A viewer gets each update as promptly as everyone else, whenever in a delivery worker's life it
// joined: while the worker is being woken and sweeps for the first time, while it polls idle, just
// before and after it lets go, and around a hand-over to its successor.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, UpdateFrame } from '../../shared/domain/protocol';
import { createEvent, reporterUrl, testStage, viewerUrl, type CreatedEvent } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

/** Long enough that waiting for a worker to let go shows up as a stall, not as noise. */
const IDLE_MS = 4_000;
/** How much later than a viewer who was there all along a late joiner may get an update. */
const SLACK_MS = 1_500;

interface Probe {
  joinedAfterMs: number;
  /** When the long-connected viewer got the update, and when the late joiner did (ms after the ack). */
  steady: number;
  late: number;
}

async function probeLateJoiners(stage: Stage, offsets: readonly number[]): Promise<Probe[]> {
  const event: CreatedEvent = await createEvent(stage);
  const reporter = await connect(reporterUrl(stage, event));
  const steady = await connect(viewerUrl(stage, event.eventId));
  const probes: Probe[] = [];
  let n = 0;
  const publish = async (text: string): Promise<AckFrame> => {
    const clientId = `c${++n}`;
    reporter.send({ action: 'publish', clientId, text });
    return reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === clientId, { timeoutMs: 20_000 });
  };
  const receivedAt = async (client: TestClient, seq: number, from: number): Promise<number> => {
    await client.next<UpdateFrame>((f) => f.type === 'update' && f.entry.seq === seq, { timeoutMs: 20_000 });
    return Date.now() - from;
  };
  try {
    for (const offset of offsets) {
      await publish(`第${n + 1}条：开幕式进行中`);
      await sleep(offset);
      const seen = steady.frames.length;
      const late = await connect(viewerUrl(stage, event.eventId));
      // The audience moved: the live count goes out first (as it does when a phone joins and the
      // reporter writes a moment later), and the workers have swept for it.
      await steady.next((f) => f.type === 'stats' && f.viewers === 2, { from: seen, timeoutMs: 20_000 });
      const ack = await publish(`第${n + 1}条：香鱼节`);
      const acked = Date.now();
      const [steadyMs, lateMs] = await Promise.all([
        receivedAt(steady, ack.seq, acked),
        receivedAt(late, ack.seq, acked),
      ]);
      probes.push({ joinedAfterMs: offset, steady: steadyMs, late: lateMs });
      await late.close();
      // A reporter writes every few seconds: the live count settles (its frames go out at most once a
      // second) before the next moment.
      await sleep(1_500);
    }
  } finally {
    await Promise.all([reporter.close(), steady.close()]);
  }
  return probes;
}

function expectPrompt(probes: readonly Probe[]): void {
  const slow = probes.filter((p) => p.late > p.steady + SLACK_MS);
  expect(slow, JSON.stringify(probes)).toEqual([]);
}

describe('a late joiner gets the next update as promptly as everyone else', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await testStage({ env: { LIVECAST_WORKER_IDLE_MS: String(IDLE_MS) } });
  });
  afterAll(() => stage?.stop());

  it('joining while the workers sweep, poll idle, let go, and after they are gone', async () => {
    // After a publish the shard workers wake and sweep (0–300 ms), then poll (to IDLE_MS), then let
    // go; past IDLE_MS + a little the joiner meets no worker and the next publish wakes new ones.
    const probes = await probeLateJoiners(stage, [0, 150, 600, IDLE_MS - 300, IDLE_MS + 600]);
    expectPrompt(probes);
  }, 120_000);
});

describe('around a hand-over', () => {
  let stage: Stage;
  beforeAll(async () => {
    // Workers hand over to a successor every 1.5 s, so joins land before, during and after hand-overs.
    stage = await testStage({ env: { LIVECAST_WORKER_IDLE_MS: String(IDLE_MS), LIVECAST_WORKER_MAX_RUN_MS: '1500' } });
  });
  afterAll(() => stage?.stop());

  it('joining at many points of a worker handing over to its successor', async () => {
    const probes = await probeLateJoiners(stage, [200, 900, 1_500]);
    expectPrompt(probes);
  }, 120_000);
});
