// The redrive's decisions, on in-memory ports: what is replayed how, what is deleted, what is kept.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadRedriveConfig } from '../../shared/config';
import type { AsyncFailureRecord, StreamFailureRecord } from '../../shared/domain/redrive/failure-records';
import { parseFailureRecord } from '../../shared/domain/redrive/failure-records';
import {
  type FailureQueue,
  type FunctionInvoker,
  type InvokeResult,
  type QueuedMessage,
  redriveQueue,
  type StreamReader,
} from '../../shared/domain/redrive/redrive';

/** A queue as SQS behaves for one reader: received messages hidden until deleted or released. */
class MemoryQueue implements FailureQueue {
  readonly visible: QueuedMessage[] = [];
  readonly hidden: QueuedMessage[] = [];
  readonly deleted: string[] = [];
  private next = 0;

  send(body: string, sentAt = 0): void {
    this.visible.push({ id: `m${++this.next}`, body, sentAt });
  }
  async receive(max: number) {
    const page = this.visible.splice(0, max);
    this.hidden.push(...page);
    return page;
  }
  async delete(m: QueuedMessage) {
    this.hidden.splice(this.hidden.indexOf(m), 1);
    this.deleted.push(m.id);
  }
  async release(m: QueuedMessage) {
    this.hidden.splice(this.hidden.indexOf(m), 1);
    this.visible.push(m);
  }
}

const streamRecord = (
  start: string,
  end: string,
  functionArn = 'arn:aws:lambda:us-east-1:1:function:tally',
): StreamFailureRecord => ({
  requestContext: { requestId: 'r', functionArn, condition: 'RetryAttemptsExhausted', approximateInvokeCount: 11 },
  version: '1.0',
  timestamp: '2026-12-01T00:00:00.000Z',
  DDBStreamBatchInfo: {
    shardId: 'shard-1',
    startSequenceNumber: start,
    endSequenceNumber: end,
    batchSize: 2,
    streamArn: 'arn:stream',
  },
});

const asyncRecord = (payload: unknown): AsyncFailureRecord => ({
  version: '1.0',
  timestamp: '2026-12-01T00:00:00.000Z',
  requestContext: {
    requestId: 'r',
    functionArn: 'arn:aws:lambda:us-east-1:1:function:worker:$LATEST',
    condition: 'RetriesExhausted',
    approximateInvokeCount: 3,
  },
  requestPayload: payload,
  responsePayload: { errorMessage: 'boom' },
});

function ports(answer: (arn: string, event: any) => InvokeResult = () => ({ payload: null })) {
  const reads: string[] = [];
  const sync: { arn: string; event: any }[] = [];
  const async: { arn: string; payload: unknown }[] = [];
  const reader: StreamReader = {
    async readBatch(info) {
      reads.push(`${info.startSequenceNumber}..${info.endSequenceNumber}`);
      return [{ seq: info.startSequenceNumber }, { seq: info.endSequenceNumber }];
    },
  };
  const invoker: FunctionInvoker = {
    async invoke(arn, event) {
      sync.push({ arn, event });
      return answer(arn, event);
    },
    async invokeAsync(arn, payload) {
      async.push({ arn, payload });
    },
  };
  return { reads, sync, async, reader, invoker };
}

describe('redriveQueue', () => {
  it('replays a stream batch to the function its record names, with the records read back, and deletes it', async () => {
    const queue = new MemoryQueue();
    queue.send(JSON.stringify(streamRecord('100', '105')));
    const p = ports();
    const outcomes = await redriveQueue(queue, p.reader, p.invoker);
    expect(p.sync).toEqual([
      { arn: 'arn:aws:lambda:us-east-1:1:function:tally', event: { Records: [{ seq: '100' }, { seq: '105' }] } },
    ]);
    expect(outcomes).toEqual([expect.objectContaining({ status: 'redriven', detail: '2 record(s)' })]);
    expect(queue.deleted).toEqual(['m1']);
    expect(queue.visible).toEqual([]);
  });

  it('invokes the worker again, asynchronously, with the failed payload', async () => {
    const queue = new MemoryQueue();
    queue.send(JSON.stringify(asyncRecord({ eventId: 'e', shard: 2 })));
    const p = ports();
    const outcomes = await redriveQueue(queue, p.reader, p.invoker);
    expect(p.async).toEqual([
      { arn: 'arn:aws:lambda:us-east-1:1:function:worker:$LATEST', payload: { eventId: 'e', shard: 2 } },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['redriven']);
    expect(queue.deleted).toEqual(['m1']);
  });

  it('keeps a message whose replay fails (function error or reported failed items) and returns it to the queue once', async () => {
    const queue = new MemoryQueue();
    queue.send(JSON.stringify(streamRecord('1', '2')));
    queue.send(JSON.stringify(streamRecord('3', '4')));
    const p = ports((_, event) =>
      event.Records[0].seq === '1'
        ? { functionError: 'Unhandled', payload: { errorMessage: 'still down' } }
        : { payload: { batchItemFailures: [{ itemIdentifier: '4' }] } },
    );
    const outcomes = await redriveQueue(queue, p.reader, p.invoker);
    expect(outcomes.map((o) => [o.status, o.detail])).toEqual([
      ['failed', 'Unhandled: still down'],
      ['failed', 'the function reported 1 failed record(s)'],
    ]);
    expect(p.sync).toHaveLength(2); // each once: no retry loop within a run
    expect(queue.deleted).toEqual([]);
    expect(queue.visible.map((m) => m.id).sort()).toEqual(['m1', 'm2']);
  });

  it('reports an unreadable message and leaves it untouched', async () => {
    const queue = new MemoryQueue();
    queue.send('not json');
    queue.send(JSON.stringify({ DDBStreamBatchInfo: { shardId: 's' } }));
    queue.send(JSON.stringify({ ...streamRecord('9', '3') }));
    const p = ports();
    const outcomes = await redriveQueue(queue, p.reader, p.invoker);
    expect(outcomes.map((o) => o.status)).toEqual(['invalid', 'invalid', 'invalid']);
    expect(outcomes[0]?.detail).toBe('the message is not JSON');
    expect(outcomes[2]?.detail).toContain('startSequenceNumber is after endSequenceNumber');
    expect(p.sync.length + p.async.length + p.reads.length).toBe(0);
    expect(queue.visible).toHaveLength(3);
  });

  it('a dry run reads the batch back but invokes and deletes nothing', async () => {
    const queue = new MemoryQueue();
    queue.send(JSON.stringify(streamRecord('1', '2')));
    queue.send(JSON.stringify(asyncRecord({})));
    const p = ports();
    const outcomes = await redriveQueue(queue, p.reader, p.invoker, { dryRun: true });
    expect(outcomes.map((o) => o.status)).toEqual(['would-redrive', 'would-redrive']);
    expect(p.reads).toEqual(['1..2']);
    expect(p.sync.length + p.async.length).toBe(0);
    expect(queue.visible).toHaveLength(2);
  });

  it('leaves messages sent after the run started for the next run', async () => {
    const queue = new MemoryQueue();
    queue.send(JSON.stringify(asyncRecord({ n: 1 })), 1_000);
    queue.send(JSON.stringify(asyncRecord({ n: 2 })), 5_000);
    const p = ports();
    const outcomes = await redriveQueue(queue, p.reader, p.invoker, { now: () => 2_000 });
    expect(p.async.map((a) => a.payload)).toEqual([{ n: 1 }]);
    expect(outcomes).toHaveLength(1);
    expect(queue.visible.map((m) => m.id)).toEqual(['m2']);
  });

  it("parses both of AWS's record shapes and nothing else", () => {
    expect(parseFailureRecord(JSON.stringify(streamRecord('1', '2'))).kind).toBe('stream');
    expect(parseFailureRecord(JSON.stringify(asyncRecord(null))).kind).toBe('async');
    expect(() => parseFailureRecord('{"a":1}')).toThrow(/neither a stream failure record/);
  });
});

describe('loadRedriveConfig', () => {
  it('reads the queues and endpoints without any table, and refuses a queue URL that is not a URL', () => {
    expect(
      loadRedriveConfig({
        LIVECAST_STREAM_FAILURES_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/StreamFailures',
        AWS_REGION: 'eu-west-1',
      }),
    ).toMatchObject({
      region: 'eu-west-1',
      local: false,
      streamFailuresQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/StreamFailures',
    });
    expect(() => loadRedriveConfig({ LIVECAST_WORKER_FAILURES_QUEUE_URL: 'WorkerFailures' })).toThrow(ConfigError);
    expect(() => loadRedriveConfig({ LIVECAST_WORKER_FAILURES_QUEUE_URL: 'WorkerFailures' })).toThrow(
      /workerFailuresQueueUrl/,
    );
  });
});
