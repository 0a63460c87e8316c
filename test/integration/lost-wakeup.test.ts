// A lost wake-up heals by itself: on the real local stage, the Changes stream's wake-up for a
// publish is dropped (as when its retries run out), and the viewer still gets the update within
// seconds, with no other publish to wake delivery.
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { Invoke } from '../../local/lambda-context';
import type { AckFrame, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import { handler as deployedWake } from '../../functions/delivery-wake';
import { createEvent, reporterUrl, testStage, viewerUrl, type CreatedEvent } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

let stage: Stage;
let event: CreatedEvent;
let reporter: TestClient;
let viewer: TestClient;
/** While set, every wake-up batch is lost: never reaches the deployed handler, and is answered as done. */
let losing = false;
const lost: number[] = [];

// The test-only fault: a wrapper around the deployed wake-up module, handed to the stage as the
// Changes stream's consumer. Production code has no such switch.
const wake: Invoke = async (batch: DynamoDBStreamEvent, context) => {
  if (losing) {
    lost.push(batch.Records.length);
    return { batchItemFailures: [] };
  }
  return deployedWake(batch, context);
};

beforeAll(async () => {
  // Scheduled functions start within half a second, not the minute EventBridge would take: the
  // watchdog then checks every few seconds, as deployed.
  stage = await testStage({ wake, scheduleEveryMs: 500 });
  event = await createEvent(stage);
  reporter = await connect(reporterUrl(stage, event));
  viewer = await connect(viewerUrl(stage, event.eventId));
}, 60_000);

afterAll(async () => {
  await Promise.all([reporter?.close(), viewer?.close()]);
  await stage?.stop();
});

const updateOf = (seq: number) => (f: ServerFrame) => f.type === 'update' && f.entry.seq === seq;

async function publish(clientId: string, text: string): Promise<AckFrame> {
  const from = reporter.frames.length;
  reporter.send({ action: 'publish', clientId, text });
  return reporter.next<AckFrame>((f) => f.type === 'ack' && (f as AckFrame).clientId === clientId, {
    from,
    timeoutMs: 15_000,
  });
}

it('delivers an update whose wake-up was lost, within seconds and without another publish', async () => {
  expect((await publish('c1', 'The ceremony begins')).seq).toBe(1);
  await viewer.next(updateOf(1), { timeoutMs: 15_000 });
  // Every worker has let go: nothing is running that would find the next change by itself.
  await stage.settled();

  losing = true;
  expect((await publish('c2', 'The mayor cuts the ribbon')).seq).toBe(2);
  const t0 = Date.now();
  // The bound is the watchdog's design (found behind at two checks 2 s apart, then a worker's first
  // sweep) with a wide margin for a loaded machine; without the watchdog the update never comes.
  const update = await viewer.next<UpdateFrame>(updateOf(2), { timeoutMs: 20_000 });
  const healedMs = Date.now() - t0;
  expect(update.entry.text).toBe('The mayor cuts the ribbon');
  // The wake-up really was lost: its batch never reached the deployed handler.
  expect(lost.length).toBeGreaterThan(0);
  console.log(`lost wake-up healed after ${healedMs} ms (${lost.length} wake-up batch(es) lost)`);
}, 90_000);
