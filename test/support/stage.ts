// Starts the real local stage (handlers, gateways, DynamoDB Local tables) for one integration test file.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { startStage, type Stage, type StageOptions } from '../../local/stage';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export async function testStage(extra: Partial<StageOptions> = {}): Promise<Stage> {
  return startStage({
    httpPort: 0,
    wsPort: 0,
    dynamo: { endpoint: inject('dynamoEndpoint') },
    tablePrefix: `t${randomBytes(4).toString('hex')}`,
    adminKey: ADMIN_KEY,
    logLevel: 'silent',
    ...extra,
    // Workers let go soon after the last change, so a test file ends quickly.
    env: { LIVECAST_WORKER_IDLE_MS: '1000', ...extra.env },
    log: () => {},
  });
}

export interface CreatedEvent {
  eventId: string;
  title: string;
  operatorToken: string;
  createdAt: string;
}

export async function createEvent(
  stage: Stage,
  title = 'Sweetfish Festival — Opening Ceremony',
  more: { startsAt?: string } = {},
): Promise<CreatedEvent> {
  const res = await fetch(`${stage.httpUrl}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title, ...more }),
  });
  if (res.status !== 201) throw new Error(`create event: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedEvent;
}

export const viewerUrl = (stage: Stage, eventId: string) => `${stage.wsUrl}/?eventId=${encodeURIComponent(eventId)}`;

/** A signed viewer id from POST /viewers (reposts count once per viewer id; without one, once per address). */
export async function viewerId(stage: Stage): Promise<string> {
  const res = await fetch(`${stage.httpUrl}/viewers`, { method: 'POST' });
  if (res.status !== 201) throw new Error(`viewer id: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { viewerId: string }).viewerId;
}

/** The viewer URL with a fresh viewer id: a viewer as the live page connects. */
export const identifiedViewerUrl = async (stage: Stage, eventId: string) =>
  `${viewerUrl(stage, eventId)}&viewer=${encodeURIComponent(await viewerId(stage))}`;
export const reporterUrl = (stage: Stage, event: CreatedEvent) =>
  `${viewerUrl(stage, event.eventId)}&token=${encodeURIComponent(event.operatorToken)}`;

/** A document client on the stage's DynamoDB Local, for tests that read or seed the tables directly. */
export const stageDb = (stage: Stage): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: stage.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
