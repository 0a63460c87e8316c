// The local stage runs without X-Ray, so the X-Ray SDK that publish and the worker bundle must not
// enable its process-wide async hook there: every promise of the stage and of the workers paid
// for it (docs/performance.md, "sockets"), while tracing itself was off.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { createEvent, testStage } from '../support/stage';
import { connect } from '../support/ws-client';

let stage: Stage;

beforeAll(async () => {
  stage = await testStage({ workerProcesses: 1 });
});

afterAll(async () => {
  await stage?.stop();
});

it("loads the traced handlers without X-Ray's async context hook, and they still run", async () => {
  // cls-hooked registers its namespace here when it enables the hook (X-Ray's automatic mode).
  expect(Object.keys((process as unknown as { namespaces?: object }).namespaces ?? {})).not.toContain('AWSXRay');
  const event = await createEvent(stage);
  const reporter = await connect(
    `${stage.wsUrl}/?eventId=${event.eventId}&token=${encodeURIComponent(event.operatorToken)}`,
  );
  const viewer = await connect(`${stage.wsUrl}/?eventId=${event.eventId}`);
  try {
    reporter.send({ action: 'publish', clientId: 'c1', text: 'The ceremony begins' });
    const ack = await reporter.next((f) => f.type === 'ack');
    expect(ack).toMatchObject({ type: 'ack', clientId: 'c1' });
    // The worker (traced too) delivered it from its own process…
    await viewer.next((f) => f.type === 'update' && f.entry.text === 'The ceremony begins');
  } finally {
    await Promise.all([reporter.close(), viewer.close()]);
  }
  // …which was forked with X-Ray in manual mode as well.
  const pids = stage.workerPids();
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids)
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('AWS_XRAY_MANUAL_MODE=1');
});
