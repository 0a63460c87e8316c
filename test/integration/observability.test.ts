// Metrics through the real local stage: a publish's ack latency, the delivery worker's posts and lag,
// the repost tally's count, as the EMF lines the functions wrote (stage.metricsFile).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Stage } from '../../local/stage';
import { Metric } from '../../shared/observability/names';
import { stageMetrics } from '../support/metrics';
import { type CreatedEvent, createEvent, identifiedViewerUrl, reporterUrl, testStage } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

let stage: Stage;
let event: CreatedEvent;
let reporter: TestClient;
let viewer: TestClient;

beforeAll(async () => {
  stage = await testStage();
  event = await createEvent(stage);
  reporter = await connect(reporterUrl(stage, event));
  viewer = await connect(await identifiedViewerUrl(stage, event.eventId));
}, 60_000);

afterAll(async () => {
  await Promise.all([reporter, viewer].map((c) => c?.close()));
  await stage?.stop();
});

/** Waits until `name` has at least `count` values in the file: the worker flushes when it ends, after delivery. */
function valuesOf(name: string, count = 1, timeoutMs = 30_000): Promise<{ unit: string; values: number[] }> {
  return vi.waitFor(
    async () => {
      const m = stageMetrics(stage.metricsFile).get(name);
      if (m && m.values.length >= count) return m;
      await stage.settled();
      throw new Error(`${name}: ${m?.values.length ?? 0} values, wanted ${count}`);
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

describe('metrics on the local stage', () => {
  it('a publish writes its ack latency; delivering it writes posts and a lag per post', async () => {
    const before = Date.now();
    reporter.send({ action: 'publish', clientId: 'm1', text: 'Doors open' });
    await reporter.next((f) => f.type === 'ack' && f.clientId === 'm1');
    await viewer.next((f) => f.type === 'update' && f.entry.seq === 1);
    const elapsed = Date.now() - before;

    const ack = await valuesOf(Metric.ackLatency);
    expect(ack.unit).toBe('Milliseconds');
    expect(ack.values).toHaveLength(1);
    // Measured inside the round trip the test saw.
    expect(ack.values[0]).toBeGreaterThanOrEqual(0);
    expect(ack.values[0]).toBeLessThanOrEqual(elapsed);

    // The viewer was posted the update: one lag value per post that carried it.
    const posts = await valuesOf(Metric.deliveryPosts);
    expect(posts.values.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    const lag = await valuesOf(Metric.deliveryLag);
    expect(lag.unit).toBe('Milliseconds');
    for (const v of lag.values) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(Date.now() - before);
    }
    expect((await valuesOf(Metric.deliveryStatsShare)).unit).toBe('Percent');
  }, 60_000);

  it('the tally writes the reposts it counted and their lag', async () => {
    viewer.send({ action: 'repost', seq: 1, clientId: 'r1' });
    await viewer.next((f) => f.type === 'ack' && f.clientId === 'r1');
    const counted = await valuesOf(Metric.repostsCounted);
    expect(counted.values.reduce((a, b) => a + b, 0)).toBe(1);
    const lag = await valuesOf(Metric.tallyLag);
    expect(lag.values).toHaveLength(1);
  }, 60_000);
});

describe('metrics of workers in child processes', () => {
  it('reach the same file: the environments inherit where metrics go', async () => {
    const apart = await testStage({ workerProcesses: 1 });
    try {
      const e = await createEvent(apart);
      const r = await connect(reporterUrl(apart, e));
      const v = await connect(await identifiedViewerUrl(apart, e.eventId));
      try {
        r.send({ action: 'publish', clientId: 'c1', text: 'From another process' });
        await v.next((f) => f.type === 'update' && f.entry.seq === 1);
        await expect
          .poll(
            async () => {
              await apart.settled();
              return stageMetrics(apart.metricsFile).get(Metric.deliveryLag)?.values.length ?? 0;
            },
            { timeout: 30_000, interval: 50 },
          )
          .toBeGreaterThanOrEqual(1);
        expect(apart.workerPids().length).toBeGreaterThanOrEqual(1);
      } finally {
        await Promise.all([r.close(), v.close()]);
      }
    } finally {
      await apart.stop();
    }
  }, 90_000);
});
