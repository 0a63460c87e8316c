// The local DynamoDB Streams → Lambda mapping against the run's DynamoDB Local: event shape, order, batching, retries, drain and stop; lineage against a scripted stream.
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  type AttributeValue,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import {
  type Invoke,
  type SendClient,
  type StreamSource,
  type StreamSourceOptions,
  startStreamSource,
} from '../../local/stream-source';
import type { StreamFailureRecord } from '../../shared/domain/redrive/failure-records';

const endpoint = inject('dynamoEndpoint');
const dynamo = new DynamoDBClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const sources: StreamSource[] = [];
const logs: string[] = [];

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  logs.length = 0;
});
afterAll(() => dynamo.destroy());

// ---- fixtures --------------------------------------------------------------------------------

async function createTable(view: 'NEW_IMAGE' | 'NEW_AND_OLD_IMAGES' = 'NEW_AND_OLD_IMAGES'): Promise<string> {
  const TableName = `stream-src-${randomUUID().slice(0, 8)}`;
  await dynamo.send(
    new CreateTableCommand({
      TableName,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: view },
    }),
  );
  return TableName;
}

const put = (table: string, pk: string, sk: number, extra: Record<string, AttributeValue> = {}) =>
  dynamo.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk }, sk: { N: String(sk) }, ...extra } }));

async function start(
  opts: Partial<StreamSourceOptions> & Pick<StreamSourceOptions, 'tableName' | 'invoke'>,
): Promise<StreamSource> {
  const source = await startStreamSource({
    dynamoEndpoint: endpoint,
    pollIntervalMs: 20,
    log: (l) => logs.push(l),
    ...opts,
  });
  sources.push(source);
  return source;
}

/** A handler that records each batch it is given, then does what `behave` says with it. */
function recorder(behave: (records: any[], call: number) => unknown = () => undefined) {
  const batches: any[][] = [];
  const contexts: any[] = [];
  const invoke: Invoke = async (event, context) => {
    batches.push(event.Records);
    contexts.push(context);
    return behave(event.Records, batches.length);
  };
  /** `pk/sk` of each record of each batch, the easiest thing to assert on. */
  const keys = () => batches.map((b) => b.map((r: any) => `${r.dynamodb.Keys.pk.S}/${r.dynamodb.Keys.sk.N}`));
  return { batches, contexts, invoke, keys };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---- events ----------------------------------------------------------------------------------

describe('events', () => {
  it('delivers INSERT, MODIFY and REMOVE in write order, shaped as Lambda delivers them', async () => {
    const table = await createTable();
    const handler = recorder();
    const source = await start({ tableName: table, invoke: handler.invoke, functionName: 'fanout' });

    await put(table, 'a', 1, {
      bin: { B: new Uint8Array([1, 2, 3]) },
      set: { BS: [new Uint8Array([255])] },
      nested: {
        M: {
          n: { N: '1.50' },
          list: { L: [{ B: new Uint8Array([9]) }, { NULL: true }, { BOOL: false }, { SS: ['x'] }] },
        },
      },
      nums: { NS: ['1', '2'] },
    });
    await dynamo.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: 'a' }, sk: { N: '1' } },
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': { S: 'edited' } },
      }),
    );
    await dynamo.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: 'a' }, sk: { N: '1' } } }));
    await put(table, 'b', 2);
    await source.drain();

    const records = handler.batches.flat();
    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE', 'INSERT']);
    const seqs = records.map((r) => BigInt(r.dynamodb.SequenceNumber));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]! > seqs[i - 1]!).toBe(true);

    const arn = (await dynamo.send(new DescribeTableCommand({ TableName: table }))).Table?.LatestStreamArn;
    expect(source.streamArn).toBe(arn);
    const [insert, modify, remove] = records;
    expect(Object.keys(insert)).toEqual([
      'eventID',
      'eventName',
      'eventVersion',
      'eventSource',
      'awsRegion',
      'dynamodb',
      'eventSourceARN',
    ]);
    expect(insert).toMatchObject({ eventVersion: '1.1', eventSource: 'aws:dynamodb', eventSourceARN: arn });
    expect(typeof insert.eventID).toBe('string');
    expect(typeof insert.awsRegion).toBe('string');
    expect(Object.keys(insert.dynamodb)).toEqual([
      'ApproximateCreationDateTime',
      'Keys',
      'NewImage',
      'SequenceNumber',
      'SizeBytes',
      'StreamViewType',
    ]);
    const created = insert.dynamodb.ApproximateCreationDateTime;
    expect(Number.isInteger(created)).toBe(true);
    expect(Math.abs(Date.now() / 1000 - created)).toBeLessThan(3_600); // epoch seconds, not ms or a string
    expect(insert.dynamodb.Keys).toEqual({ pk: { S: 'a' }, sk: { N: '1' } });
    expect(insert.dynamodb.NewImage).toEqual({
      pk: { S: 'a' },
      sk: { N: '1' },
      bin: { B: Buffer.from([1, 2, 3]).toString('base64') },
      set: { BS: [Buffer.from([255]).toString('base64')] },
      nested: {
        M: {
          n: { N: '1.50' },
          list: { L: [{ B: Buffer.from([9]).toString('base64') }, { NULL: true }, { BOOL: false }, { SS: ['x'] }] },
        },
      },
      nums: { NS: ['1', '2'] },
    });
    expect(insert.dynamodb).toMatchObject({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(typeof insert.dynamodb.SizeBytes).toBe('number');
    expect(modify.dynamodb.OldImage.v).toBeUndefined();
    expect(modify.dynamodb.NewImage.v).toEqual({ S: 'edited' });
    expect(remove.dynamodb.NewImage).toBeUndefined();
    expect(remove.dynamodb.OldImage.v).toEqual({ S: 'edited' });

    expect(handler.contexts[0].functionName).toBe('fanout');
    expect(new Set(handler.contexts.map((c) => c.awsRequestId)).size).toBe(handler.contexts.length);
    expect(source.stats()).toMatchObject({ records: 4, errors: 0, skipped: 0 });
  });

  it('starts at LATEST by default: what was written before the start is not delivered', async () => {
    const table = await createTable();
    await put(table, 'old', 1);
    const handler = recorder();
    const source = await start({ tableName: table, invoke: handler.invoke });
    await put(table, 'new', 1);
    await source.drain();
    expect(handler.keys().flat()).toEqual(['new/1']);
  });

  it('starts at TRIM_HORIZON when asked', async () => {
    const table = await createTable();
    await put(table, 'old', 1);
    const handler = recorder();
    const source = await start({ tableName: table, invoke: handler.invoke, startingPosition: 'TRIM_HORIZON' });
    await put(table, 'new', 1);
    await source.drain();
    expect(handler.keys().flat()).toEqual(['old/1', 'new/1']);
  });

  it('refuses a table without a stream', async () => {
    const TableName = `stream-src-${randomUUID().slice(0, 8)}`;
    await dynamo.send(
      new CreateTableCommand({
        TableName,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await expect(
      startStreamSource({ dynamoEndpoint: endpoint, tableName: TableName, invoke: async () => {}, log: () => {} }),
    ).rejects.toThrow(/no enabled stream/);
  });

  it('resumes after the last record read when an iterator has expired, losing and repeating nothing', async () => {
    const table = await createTable();
    const real = new DynamoDBStreamsClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    let expireNext = false;
    const positions: string[] = [];
    const streams: SendClient = {
      send(command: any, options?: { abortSignal?: AbortSignal }) {
        if (command instanceof GetShardIteratorCommand) positions.push(String(command.input.ShardIteratorType));
        if (command instanceof GetRecordsCommand && expireNext) {
          expireNext = false;
          return Promise.reject(Object.assign(new Error('Iterator expired'), { name: 'ExpiredIteratorException' }));
        }
        return real.send(command, options);
      },
      destroy: () => real.destroy(),
    };
    try {
      const handler = recorder();
      const source = await start({ tableName: table, invoke: handler.invoke, streamsClient: streams });
      await put(table, 'k', 1);
      await source.drain();
      expireNext = true;
      await put(table, 'k', 2);
      await put(table, 'k', 3);
      await source.drain();
      expect(handler.keys().flat()).toEqual(['k/1', 'k/2', 'k/3']);
      expect(positions).toContain('AFTER_SEQUENCE_NUMBER');
    } finally {
      await Promise.all(sources.splice(0).map((s) => s.stop()));
      real.destroy();
    }
  });

  it('survives DynamoDB Local answering TrimmedDataAccessException on a shard that was empty', async () => {
    // Other tables write between our LATEST iterator and our first record: the case the workaround is for.
    const table = await createTable();
    const other = await createTable();
    const handler = recorder();
    const source = await start({ tableName: table, invoke: handler.invoke });
    await put(other, 'noise', 1);
    await put(other, 'noise', 2);
    await put(table, 'mine', 1);
    await source.drain();
    expect(handler.keys().flat()).toEqual(['mine/1']);
  });
});

// ---- batching --------------------------------------------------------------------------------

describe('batching', () => {
  it('coalesces what was written during a slow invocation into the next single invocation', async () => {
    const table = await createTable();
    const first = gate();
    const handler = recorder((_, call) => (call === 1 ? first.opened : undefined));
    const source = await start({ tableName: table, invoke: handler.invoke });

    await put(table, 'k', 1);
    await until(() => handler.batches.length === 1, 'the first invocation');
    for (let i = 2; i <= 6; i++) await put(table, 'k', i);
    first.open();
    await source.drain();

    expect(handler.keys()).toEqual([['k/1'], ['k/2', 'k/3', 'k/4', 'k/5', 'k/6']]);
  });

  it('never puts more than batchSize records in an invocation', async () => {
    const table = await createTable();
    for (let i = 1; i <= 8; i++) await put(table, 'k', i);
    const handler = recorder();
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      startingPosition: 'TRIM_HORIZON',
      batchSize: 3,
    });
    await source.drain();
    expect(handler.batches.map((b) => b.length)).toEqual([3, 3, 2]);
    expect(handler.keys().flat()).toEqual(Array.from({ length: 8 }, (_, i) => `k/${i + 1}`));
  });

  it('waits up to maxBatchingWindowMs to fill a batch', async () => {
    const table = await createTable();
    const handler = recorder();
    const source = await start({ tableName: table, invoke: handler.invoke, maxBatchingWindowMs: 1_500 });
    const before = Date.now();
    for (let i = 1; i <= 3; i++) await put(table, 'k', i);
    await source.drain();
    const took = Date.now() - before;
    expect(handler.keys()).toEqual([['k/1', 'k/2', 'k/3']]);
    expect(took).toBeGreaterThanOrEqual(1_400); // not invoked before the window closed
  });
});

// ---- failures --------------------------------------------------------------------------------

describe('failures', () => {
  it('retries a failed batch with the same records and delivers nothing later before it succeeds', async () => {
    const table = await createTable();
    const first = gate();
    const handler = recorder(async (_, call) => {
      if (call === 1) await first.opened;
      if (call <= 2) throw new Error(`failure ${call}`);
    });
    const source = await start({ tableName: table, invoke: handler.invoke });

    await put(table, 'k', 1);
    await until(() => handler.batches.length === 1, 'the first invocation');
    await put(table, 'k', 2);
    await put(table, 'k', 3);
    first.open();
    await source.drain();

    expect(handler.keys()).toEqual([['k/1'], ['k/1'], ['k/1'], ['k/2', 'k/3']]);
    expect(source.stats()).toMatchObject({ invocations: 4, errors: 2, skipped: 0 });
    expect(logs.some((l) => l.includes('failed (attempt 1)') && l.includes('failure 1'))).toBe(true);
  });

  it('with reportBatchItemFailures, resumes from the lowest failed record', async () => {
    const table = await createTable();
    for (let i = 1; i <= 4; i++) await put(table, 'k', i);
    const handler = recorder((records, call) =>
      call === 1
        ? { batchItemFailures: [records[3], records[2]].map((r) => ({ itemIdentifier: r.dynamodb.SequenceNumber })) }
        : { batchItemFailures: [] },
    );
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      startingPosition: 'TRIM_HORIZON',
      reportBatchItemFailures: true,
    });
    await source.drain();
    expect(handler.keys()).toEqual([
      ['k/1', 'k/2', 'k/3', 'k/4'],
      ['k/3', 'k/4'],
    ]);
  });

  it('with reportBatchItemFailures, an identifier not in the batch fails the whole batch', async () => {
    const table = await createTable();
    for (let i = 1; i <= 2; i++) await put(table, 'k', i);
    const handler = recorder((_, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: 'no-such-record' }] } : null,
    );
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      startingPosition: 'TRIM_HORIZON',
      reportBatchItemFailures: true,
    });
    await source.drain();
    expect(handler.keys()).toEqual([
      ['k/1', 'k/2'],
      ['k/1', 'k/2'],
    ]);
  });

  it('ignores a batchItemFailures answer unless reportBatchItemFailures is on', async () => {
    const table = await createTable();
    for (let i = 1; i <= 2; i++) await put(table, 'k', i);
    const handler = recorder((records) => ({
      batchItemFailures: [{ itemIdentifier: records[0].dynamodb.SequenceNumber }],
    }));
    const source = await start({ tableName: table, invoke: handler.invoke, startingPosition: 'TRIM_HORIZON' });
    await source.drain();
    expect(handler.keys()).toEqual([['k/1', 'k/2']]);
  });

  it('skips a batch once maxRetryAttempts are spent, logs it, and goes on', async () => {
    const table = await createTable();
    const first = gate();
    const handler = recorder(async (records, call) => {
      if (call === 1) await first.opened;
      if (records.some((r: any) => r.dynamodb.Keys.sk.N === '1')) throw new Error('poison');
    });
    const source = await start({ tableName: table, invoke: handler.invoke, maxRetryAttempts: 1 });
    await put(table, 'k', 1);
    await until(() => handler.batches.length === 1, 'the first invocation');
    await put(table, 'k', 2);
    first.open();
    await source.drain();
    expect(handler.keys()).toEqual([['k/1'], ['k/1'], ['k/2']]);
    expect(source.stats()).toMatchObject({ skipped: 1, errors: 2 });
    expect(logs.some((l) => l.includes('gave up 1 record(s)') && l.includes('they are lost'))).toBe(true);
  });
});

// ---- on-failure destination, bisection, record age -------------------------------------------

describe('failure destination', () => {
  /** Reads the records a failure record points at back from the stream, as the redrive does. */
  async function readBack(info: StreamFailureRecord['DDBStreamBatchInfo']): Promise<string[]> {
    const streams = new DynamoDBStreamsClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const it = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: info.streamArn,
          ShardId: info.shardId,
          ShardIteratorType: 'AT_SEQUENCE_NUMBER',
          SequenceNumber: info.startSequenceNumber,
        }),
      );
      const out = await streams.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
      return (out.Records ?? [])
        .filter((r) => BigInt(r.dynamodb!.SequenceNumber!) <= BigInt(info.endSequenceNumber))
        .map((r) => `${r.dynamodb!.Keys!.pk!.S}/${r.dynamodb!.Keys!.sk!.N}`);
    } finally {
      streams.destroy();
    }
  }

  it("sends AWS's record of a batch whose retries ran out, then goes on; the record points at exactly that batch", async () => {
    const table = await createTable();
    for (let i = 1; i <= 3; i++) await put(table, 'k', i);
    const failures: StreamFailureRecord[] = [];
    const handler = recorder((_, call) => {
      if (call <= 2) throw new Error('tally down');
    });
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      functionName: 'tally',
      startingPosition: 'TRIM_HORIZON',
      maxRetryAttempts: 1,
      onFailure: async (r) => void failures.push(r),
    });
    await until(() => handler.batches.length === 1, 'the first invocation');
    await put(table, 'k', 4);
    await source.drain();

    expect(handler.keys().slice(0, 2)).toEqual([
      ['k/1', 'k/2', 'k/3'],
      ['k/1', 'k/2', 'k/3'],
    ]);
    expect(handler.keys().slice(2).flat()).toEqual(['k/4']);
    expect(failures).toHaveLength(1);
    const f = failures[0]!;
    const seqs = handler.batches[0]!.map((r: any) => r.dynamodb.SequenceNumber as string);
    expect(f).toMatchObject({
      version: '1.0',
      requestContext: {
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:tally',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 2,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      DDBStreamBatchInfo: {
        startSequenceNumber: seqs[0],
        endSequenceNumber: seqs[2],
        batchSize: 3,
        streamArn: source.streamArn,
      },
    });
    expect(f.requestContext.requestId).toBe(handler.contexts[1].awsRequestId);
    expect(f.DDBStreamBatchInfo.approximateArrivalOfFirstRecord).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await readBack(f.DDBStreamBatchInfo)).toEqual(['k/1', 'k/2', 'k/3']);
    expect(source.stats()).toMatchObject({ skipped: 3, failureRecords: 1 });
  });

  it('bisects a batch whose handler throws, down to the one bad record, without spending retries on the splits', async () => {
    const table = await createTable();
    for (let i = 1; i <= 4; i++) await put(table, 'k', i);
    const failures: StreamFailureRecord[] = [];
    const handler = recorder((records) => {
      if (records.some((r: any) => r.dynamodb.Keys.sk.N === '3')) throw new Error('poison');
    });
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      startingPosition: 'TRIM_HORIZON',
      maxRetryAttempts: 1,
      bisectBatchOnError: true,
      onFailure: async (r) => void failures.push(r),
    });
    await source.drain();
    expect(handler.keys()).toEqual([
      ['k/1', 'k/2', 'k/3', 'k/4'],
      ['k/1', 'k/2'],
      ['k/3', 'k/4'],
      ['k/3'],
      ['k/3'],
      ['k/4'],
    ]);
    expect(failures.map((f) => [f.DDBStreamBatchInfo.batchSize, f.requestContext.condition])).toEqual([
      [1, 'RetryAttemptsExhausted'],
    ]);
    expect(await readBack(failures[0]!.DDBStreamBatchInfo)).toEqual(['k/3']);
  });

  it('gives up records older than maxRecordAgeMs even while retries remain, with RecordAgeExceeded', async () => {
    const table = await createTable();
    const failures: StreamFailureRecord[] = [];
    const handler = recorder(() => {
      throw new Error('always');
    });
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      maxRecordAgeMs: 300,
      onFailure: async (r) => void failures.push(r),
    });
    await put(table, 'k', 1);
    await source.drain();
    expect(failures.map((f) => f.requestContext.condition)).toEqual(['RecordAgeExceeded']);
    expect(failures[0]!.DDBStreamBatchInfo.batchSize).toBe(1);
    expect(handler.batches.length).toBeGreaterThanOrEqual(1);
  });

  it('keeps a failure record until the destination takes it, and processes nothing later before', async () => {
    const table = await createTable();
    for (let i = 1; i <= 2; i++) await put(table, 'k', i);
    let refusals = 0;
    const delivered: StreamFailureRecord[] = [];
    const handler = recorder((records) => {
      if (records.some((r: any) => r.dynamodb.Keys.sk.N === '1')) throw new Error('poison');
    });
    const source = await start({
      tableName: table,
      invoke: handler.invoke,
      startingPosition: 'TRIM_HORIZON',
      batchSize: 1,
      maxRetryAttempts: 0,
      onFailure: async (r) => {
        if (++refusals <= 2) throw new Error('queue unreachable');
        expect(handler.keys().flat()).not.toContain('k/2');
        delivered.push(r);
      },
    });
    await source.drain();
    expect(refusals).toBe(3);
    expect(delivered).toHaveLength(1);
    expect(handler.keys()).toEqual([['k/1'], ['k/2']]);
    expect(logs.some((l) => l.includes('the on-failure destination failed') && l.includes('queue unreachable'))).toBe(
      true,
    );
  });
});

// ---- settings ------------------------------------------------------------------------------

describe('settings', () => {
  it('refuses settings outside AWS ranges', async () => {
    await expect(
      startStreamSource({ dynamoEndpoint: endpoint, tableName: 'x', invoke: async () => {}, batchSize: 10_001 }),
    ).rejects.toThrow(/batchSize/);
  });
});

// ---- drain and stop --------------------------------------------------------------------------

describe('drain and stop', () => {
  it('drain() rejects after its timeout while a batch keeps failing', async () => {
    const table = await createTable();
    const handler = recorder(() => {
      throw new Error('always');
    });
    const source = await start({ tableName: table, invoke: handler.invoke });
    await put(table, 'k', 1);
    await expect(source.drain(500)).rejects.toThrow(/did not drain within 500 ms.*a batch is failing/);
  });

  it('drain() waits for records read in several pages and several invocations', async () => {
    const table = await createTable();
    const handler = recorder();
    const source = await start({ tableName: table, invoke: handler.invoke, batchSize: 2 });
    await Promise.all(Array.from({ length: 25 }, (_, i) => put(table, `p${i}`, i)));
    await source.drain();
    expect(handler.batches.flat()).toHaveLength(25);
    expect(Math.max(...handler.batches.map((b) => b.length))).toBeLessThanOrEqual(2);
  });

  it('stop() waits for the invocation in flight, then nothing more is delivered and no timer is left', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const table = await createTable();
    const slow = gate();
    const handler = recorder(() => slow.opened);
    const source = await start({ tableName: table, invoke: handler.invoke });
    await put(table, 'k', 1);
    await until(() => handler.batches.length === 1, 'the first invocation');

    let stopped = false;
    const stopping = source.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    slow.open();
    await stopping;

    await put(table, 'k', 2);
    await new Promise((r) => setTimeout(r, 200)); // ten poll intervals: a running poller would have delivered it
    expect(handler.batches).toHaveLength(1);
    await expect(source.drain()).rejects.toThrow(/stopped/);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

// ---- lineage, against a scripted stream ------------------------------------------------------

/**
 * DynamoDB Local never splits a shard, so lineage is checked against a scripted stream: shard P
 * closes after its records, and only then does DescribeStream list its children C1 and C2.
 */
function scriptedStream() {
  const arn = 'arn:aws:dynamodb:ddblocal:000000000000:table/scripted/stream/2026-01-01T00:00:00.000';
  const record = (seq: number, pk: string) => ({
    eventID: `id-${seq}`,
    eventName: 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'ddblocal',
    dynamodb: {
      ApproximateCreationDateTime: new Date(1_700_000_000_000),
      Keys: { pk: { S: pk } },
      SequenceNumber: String(seq).padStart(21, '0'),
      SizeBytes: 10,
      StreamViewType: 'NEW_IMAGE',
    },
  });
  const shards = new Map([
    ['P', { parent: undefined as string | undefined, records: [1, 2, 3].map((n) => record(n, 'p')), closed: false }],
    ['C1', { parent: 'P', records: [10, 12].map((n) => record(n, 'c1')), closed: false }],
    ['C2', { parent: 'P', records: [11].map((n) => record(n, 'c2')), closed: false }],
  ]);
  let parentReads = 0;
  const listed = () => (shards.get('P')!.closed ? ['P', 'C1', 'C2'] : ['P']);
  const streams: SendClient = {
    async send(command: any) {
      const input = command.input;
      if (command instanceof DescribeStreamCommand) {
        return {
          StreamDescription: {
            StreamArn: arn,
            Shards: listed().map((id) => ({
              ShardId: id,
              ...(shards.get(id)!.parent ? { ParentShardId: shards.get(id)!.parent } : {}),
              SequenceNumberRange: { StartingSequenceNumber: '1' },
            })),
          },
        };
      }
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: `${input.ShardId}|0` };
      if (command instanceof GetRecordsCommand) {
        const [id, at] = String(input.ShardIterator).split('|') as [string, string];
        const shard = shards.get(id)!;
        // P hands out one record per read and closes after the third read: children appear only then.
        if (id === 'P' && ++parentReads >= 3) shard.closed = true;
        const from = Number(at);
        const page = shard.records.slice(from, from + (id === 'P' ? 1 : input.Limit));
        const next = from + page.length;
        const end = next >= shard.records.length && (id !== 'P' || shard.closed);
        return { Records: page, ...(end ? {} : { NextShardIterator: `${id}|${next}` }) };
      }
      throw new Error(`unexpected ${command.constructor.name}`);
    },
    destroy() {},
  };
  const dynamoClient: SendClient = {
    async send() {
      return {
        Table: {
          LatestStreamArn: arn,
          StreamSpecification: { StreamEnabled: true },
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        },
      };
    },
    destroy() {},
  };
  return { streams, dynamoClient };
}

describe('lineage', () => {
  it('reads a parent shard to its end before its children, which it finds with DescribeStream', async () => {
    const { streams, dynamoClient } = scriptedStream();
    const handler = recorder();
    const source = await start({
      tableName: 'scripted',
      invoke: handler.invoke,
      startingPosition: 'TRIM_HORIZON',
      streamsClient: streams,
      dynamoClient,
      shardDiscoveryIntervalMs: 60_000, // only the discovery a closing shard triggers can find the children
    });
    await until(() => handler.batches.flat().length === 6, 'all six records');
    await source.drain();

    const order = handler.batches.flat().map((r) => r.dynamodb.SequenceNumber.replace(/^0+/, ''));
    expect(order.slice(0, 3)).toEqual(['1', '2', '3']);
    expect(order.filter((s) => s === '10' || s === '12')).toEqual(['10', '12']);
    expect(order.slice(3).sort()).toEqual(['10', '11', '12']);
    expect(handler.batches.flat()[0].dynamodb.ApproximateCreationDateTime).toBe(1_700_000_000);
  });
});
