// Failures leave a trace and can be replayed: a tally that fails past its retries sends its batches'
// places to the stream-failures queue (the real SQS client, the local stand-in), and the redrive reads
// them back from the stream and replays them through the Lambda Invoke API; the tally's watermark
// keeps the counts exact however often a batch is replayed.
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Invoke } from '../../local/lambda-context';
import type { Stage } from '../../local/stage';
import type { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import {
  createRedriveClients,
  DynamoStreamReader,
  LambdaInvoker,
  type RedriveClients,
  SqsFailureQueue,
} from '../../shared/adapters/redrive-aws';
import { loadRedriveConfig } from '../../shared/config';
import { parseFailureRecord } from '../../shared/domain/redrive/failure-records';
import { redriveQueue } from '../../shared/domain/redrive/redrive';
import type { RepostAckFrame, ServerFrame } from '../../shared/domain/protocol';
import { deliveryWorker, repostTally } from '../../shared/routes';
import { type CreatedEvent, createEvent, identifiedViewerUrl, reporterUrl, testStage } from '../support/stage';
import { repostStore } from '../support/storm';
import { connect, type TestClient } from '../support/ws-client';

const VIEWERS = 3;

/** Failure injection: the tally throws while `down.tally` says so. */
const down = { tally: false };
let tallyCalls = 0;
const inject = (id: string, invoke: Invoke): Invoke =>
  id === repostTally.id
    ? async (event, context) => {
        tallyCalls++;
        if (down.tally) throw new Error('injected: the tally is down');
        return invoke(event, context);
      }
    : invoke;

let stage: Stage;
let store: DynamoRepostStore;
let event: CreatedEvent;
let reporter: TestClient;
let viewers: TestClient[];
let sqs: SQSClient;
let clients: RedriveClients;

beforeAll(async () => {
  stage = await testStage({ wrapStreamTrigger: inject, streamRetryAttempts: 1, asyncRetryDelaysMs: [10, 10] });
  store = repostStore(stage);
  event = await createEvent(stage);
  reporter = await connect(reporterUrl(stage, event));
  reporter.send({ action: 'publish', clientId: 'p1', text: 'The ribbon is cut!' });
  await reporter.next((f) => f.type === 'ack' && f.clientId === 'p1');
  // Viewer ids: on one machine's address, clients without one count once per address.
  viewers = await Promise.all(
    Array.from({ length: VIEWERS }, async () => connect(await identifiedViewerUrl(stage, event.eventId))),
  );
  sqs = new SQSClient({
    endpoint: stage.sqs.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  // What `npm run redrive` builds from running.json, read through the same configuration code.
  clients = createRedriveClients(
    loadRedriveConfig({
      AWS_REGION: 'us-east-1',
      LIVECAST_LOCAL: '1',
      LIVECAST_SQS_ENDPOINT: stage.sqs.endpoint,
      LIVECAST_DYNAMODB_ENDPOINT: stage.dynamoEndpoint,
      LIVECAST_LAMBDA_ENDPOINT: stage.lambda.endpoint,
    }),
  );
}, 60_000);

afterAll(async () => {
  clients?.destroy();
  sqs?.destroy();
  await Promise.all([reporter, ...(viewers ?? [])].map((c) => c?.close()));
  await stage?.stop();
});

const totalOf = async (seq: number) => (await store.totals(event.eventId, seq, seq)).get(seq) ?? 0;

async function waiting(queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages);
}

/** The queue's bodies, leaving every message where it was (visibility 0). */
async function peek(queueUrl: string): Promise<string[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
  );
  return (out.Messages ?? []).map((m) => m.Body ?? '');
}

const redrive = (queueUrl: string, dryRun = false) =>
  redriveQueue(
    new SqsFailureQueue(clients.sqs, queueUrl),
    new DynamoStreamReader(clients.streams),
    new LambdaInvoker(clients.lambda),
    { dryRun },
  );

describe('a stream batch that fails past its retries', () => {
  let bodies: string[];

  it('lands in the stream-failures queue with its place in the stream, and nothing is counted', async () => {
    down.tally = true;
    await Promise.all(
      viewers.map((v, i) => {
        v.send({ action: 'repost', seq: 1, clientId: `r${i}` });
        return v.next<RepostAckFrame>(
          (f: ServerFrame) => f.type === 'ack' && 'reposted' in f && f.clientId === `r${i}`,
        );
      }),
    );
    await stage.settled();

    expect(await totalOf(1)).toBe(0);
    bodies = await peek(stage.failureQueues.streams);
    expect(bodies.length).toBeGreaterThan(0);
    const records = bodies.map((b) => parseFailureRecord(b));
    const batches = records.map((r) => (r.kind === 'stream' ? r.record : undefined));
    // Bisection isolates each failing record; together the records cover every repost.
    expect(batches.reduce((n, r) => n + (r?.DDBStreamBatchInfo.batchSize ?? 0), 0)).toBe(VIEWERS);
    for (const r of batches) {
      expect(r?.requestContext).toMatchObject({
        functionArn: expect.stringMatching(/:function:livecast-local-RepostTally$/),
        condition: 'RetryAttemptsExhausted',
      });
    }
    expect(await waiting(stage.failureQueues.worker)).toBe(0);
  });

  it('a dry run replays nothing and leaves every message', async () => {
    const calls = tallyCalls;
    const outcomes = await redrive(stage.failureQueues.streams, true);
    expect(outcomes.map((o) => o.status)).toEqual(bodies.map(() => 'would-redrive'));
    expect(tallyCalls).toBe(calls);
    expect(await waiting(stage.failureQueues.streams)).toBe(bodies.length);
  });

  it('a redrive while the tally still fails keeps the messages', async () => {
    const outcomes = await redrive(stage.failureQueues.streams);
    expect(outcomes.map((o) => o.status)).toEqual(bodies.map(() => 'failed'));
    expect(outcomes[0]?.detail).toContain('injected: the tally is down');
    expect(await waiting(stage.failureQueues.streams)).toBe(bodies.length);
    expect(await totalOf(1)).toBe(0);
  });

  it('once the tally is back, the redrive counts every repost exactly and empties the queue', async () => {
    down.tally = false;
    const outcomes = await redrive(stage.failureQueues.streams);
    expect(outcomes.map((o) => o.status)).toEqual(bodies.map(() => 'redriven'));
    expect(await totalOf(1)).toBe(VIEWERS);
    expect(await waiting(stage.failureQueues.streams)).toBe(0);
  });

  it('replaying the same batches again does not move the totals', async () => {
    for (const body of bodies)
      await sqs.send(new SendMessageCommand({ QueueUrl: stage.failureQueues.streams, MessageBody: body }));
    const outcomes = await redrive(stage.failureQueues.streams);
    expect(outcomes.map((o) => o.status)).toEqual(bodies.map(() => 'redriven'));
    expect(await totalOf(1)).toBe(VIEWERS);
    await stage.settled();
    expect(await totalOf(1)).toBe(VIEWERS);
  });

  it('a message that is not a failure record is reported and left in the queue', async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: stage.failureQueues.streams, MessageBody: '{"hello":"world"}' }));
    const outcomes = await redrive(stage.failureQueues.streams);
    expect(outcomes).toEqual([expect.objectContaining({ status: 'invalid' })]);
    expect(await waiting(stage.failureQueues.streams)).toBe(1);
    expect(await totalOf(1)).toBe(VIEWERS);
  });
});

describe('a delivery worker invocation that fails its retries', () => {
  it('lands in the worker-failures queue with its payload, and the redrive invokes the worker with it again', async () => {
    const name = `livecast-local-${deliveryWorker.id}`;
    // Not a payload the worker accepts (its zod schema throws): it fails all three attempts, as a crashing worker would.
    const res = stage.lambda.stats();
    await clients.lambda.send(
      new InvokeCommand({
        FunctionName: name,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify({ bogus: true })),
      }),
    );
    await stage.settled();
    expect(stage.lambda.stats().asyncFailureRecords).toBe(res.asyncFailureRecords + 1);
    const [body] = await peek(stage.failureQueues.worker);
    const record = parseFailureRecord(body ?? '');
    expect(record).toMatchObject({
      kind: 'async',
      record: {
        requestPayload: { bogus: true },
        requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      },
    });

    const outcomes = await redrive(stage.failureQueues.worker);
    expect(outcomes.map((o) => o.status)).toEqual(['redriven']);
    await stage.settled();
    // Invoked again (accepted, failed its retries again): a new record, none lost.
    expect(stage.lambda.stats().asyncFailureRecords).toBe(res.asyncFailureRecords + 2);
    expect(await waiting(stage.failureQueues.worker)).toBe(1);
  });
});

describe('npm run redrive', () => {
  /** The script as a user runs it, finding the stage through running.json as `npm start` writes it. */
  async function run(...args: string[]): Promise<{ code: number; out: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'livecast-redrive-'));
    const env = {
      AWS_REGION: 'us-east-1',
      LIVECAST_LOCAL: '1',
      LIVECAST_DYNAMODB_ENDPOINT: stage.dynamoEndpoint,
      LIVECAST_LAMBDA_ENDPOINT: stage.lambda.endpoint,
      LIVECAST_SQS_ENDPOINT: stage.sqs.endpoint,
      LIVECAST_STREAM_FAILURES_QUEUE_URL: stage.failureQueues.streams,
      LIVECAST_WORKER_FAILURES_QUEUE_URL: stage.failureQueues.worker,
    };
    writeFileSync(join(dir, 'running.json'), JSON.stringify({ pid: process.pid, env }));
    const childEnv: NodeJS.ProcessEnv = { ...process.env, LIVECAST_DATA_DIR: dir };
    delete childEnv.LIVECAST_STREAM_FAILURES_QUEUE_URL;
    delete childEnv.LIVECAST_WORKER_FAILURES_QUEUE_URL;
    try {
      const { stdout, stderr } = await promisify(execFile)('node_modules/.bin/tsx', ['scripts/redrive.ts', ...args], {
        env: childEnv,
      });
      return { code: 0, out: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('lists what it would replay, and says which messages it left and why', async () => {
    const dry = await run('--dry-run');
    expect(dry.out).toMatch(
      /worker:\n\s+would-redrive\s+async → arn:aws:lambda:.*:function:livecast-local-DeliveryWorker/,
    );
    expect(dry.out).toMatch(/streams:\n\s+invalid\s+unreadable message — neither a stream failure record/);
    expect(dry.code).toBe(1);
  });

  it('refuses bad arguments with the usage and exit code 2, touching nothing', async () => {
    const before = await waiting(stage.failureQueues.worker);
    const bad = await run('--queue', 'everything');
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--queue takes streams or worker, got everything');
    expect(await waiting(stage.failureQueues.worker)).toBe(before);
  });
});
