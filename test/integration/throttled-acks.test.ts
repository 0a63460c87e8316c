// The reporter's acks never depend on the @connections budget: with the account's bucket spent (every
// management API call answered 429 — delivery, in a storm, spends it all), every write is still acked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, ErrorFrame } from '../../shared/domain/protocol';
import { createEvent, reporterUrl, testStage, type CreatedEvent } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

let stage: Stage;
let event: CreatedEvent;
let reporter: TestClient;

beforeAll(async () => {
  // rate 0: the bucket never refills; its one token goes to the first call.
  stage = await testStage({ limits: { rate: 0, burst: 1, latencyMs: 1, seed: 1 } });
  event = await createEvent(stage);
  reporter = await connect(reporterUrl(stage, event));
  // Spend the bucket's one token now (any @connections call does), so nothing after it gets through.
  for (let calls = 0; calls < 5; calls++) {
    const res = await fetch(`${stage.managementEndpoint}/@connections/AAAAAAAAAAAAAAA=`);
    if (res.status === 429) break;
  }
});

afterAll(async () => {
  await reporter?.close();
  await stage?.stop();
});

describe('acks under a spent @connections budget', () => {
  it(
    'acks every publish, edit and pin although every post to a connection is throttled',
    { timeout: 60_000 },
    async () => {
      const sent = [
        { action: 'publish', clientId: 'p1', text: '开幕式开始' },
        { action: 'publish', clientId: 'p2', text: '县长致辞' },
        { action: 'edit', clientId: 'e1', seq: 1, text: '开幕式正式开始' },
        { action: 'pin', clientId: 'n1', seq: 2, pinned: true },
        { action: 'publish', clientId: 'p3', text: '龙舟赛' },
      ];
      const acks: AckFrame[] = [];
      for (const frame of sent) {
        reporter.send(frame);
        acks.push(
          await reporter.next<AckFrame>((f) => f.type === 'ack' && f.clientId === frame.clientId, {
            timeoutMs: 15_000,
          }),
        );
      }
      expect(acks.map((a) => [a.clientId, a.seq, a.rev])).toEqual([
        ['p1', 1, 1],
        ['p2', 2, 1],
        ['e1', 1, 2],
        ['n1', 2, 2],
        ['p3', 3, 1],
      ]);
      // The budget really is spent: a catch-up, which must go through the management API, is refused.
      reporter.send({ action: 'sync', since: 0 });
      const refused = await reporter.next<ErrorFrame>((f) => f.type === 'error', { timeoutMs: 30_000 });
      expect(refused.code).toBe('rate_limited');
      expect(stage.ws.stats().throttled).toBeGreaterThan(0);
    },
  );
});
