// The local stage as the benchmark starts it: a shared DynamoDB Local, quiet logs, and the HTTP calls that set up an event.
import { startStage, type Stage, type StageOptions } from '../../local/stage';

export const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

export async function benchStage(
  dynamoEndpoint: string,
  tablePrefix: string,
  extra: Partial<StageOptions> = {},
): Promise<Stage> {
  return startStage({
    httpPort: 0,
    wsPort: 0,
    dynamo: { endpoint: dynamoEndpoint },
    tablePrefix,
    adminKey: ADMIN_KEY,
    logLevel: 'warn',
    ...extra,
    log: () => {},
  });
}

export interface BenchEvent {
  eventId: string;
  operatorToken: string;
}

export async function createEvent(stage: Stage, title: string): Promise<BenchEvent> {
  const res = await fetch(`${stage.httpUrl}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  if (res.status !== 201) throw new Error(`create event: ${res.status} ${await res.text()}`);
  return (await res.json()) as BenchEvent;
}

export async function lastSeq(stage: Stage, eventId: string): Promise<number> {
  const res = await fetch(`${stage.httpUrl}/events/${eventId}`);
  if (!res.ok) throw new Error(`get event: ${res.status}`);
  return ((await res.json()) as { lastSeq: number }).lastSeq;
}

export const viewerUrl = (stage: Stage, eventId: string) => `${stage.wsUrl}/?eventId=${encodeURIComponent(eventId)}`;
export const reporterUrl = (stage: Stage, event: BenchEvent) =>
  `${viewerUrl(stage, event.eventId)}&token=${encodeURIComponent(event.operatorToken)}`;
