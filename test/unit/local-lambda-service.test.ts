// The local Lambda Invoke API through the real LambdaClient: sync results and errors, async 202 with retries, DryRun, lookups by name or ARN, limits.
import { createServer } from 'node:net';
import { InvokeCommand, type InvokeCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { type AsyncFailureRecord, asyncFailureRecordSchema } from '../../shared/domain/redrive/failure-records';
import {
  functionNameOf,
  type Invoke,
  type LambdaService,
  type LambdaServiceOptions,
  startLambdaService,
} from '../../local/lambda-service';

const services: LambdaService[] = [];
const clients: LambdaClient[] = [];
const logs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(services.splice(0).map((s) => s.close()));
  logs.length = 0;
});

async function service(functions: Record<string, Invoke>, opts: Partial<LambdaServiceOptions> = {}) {
  const s = await startLambdaService({
    port: 0,
    functions: new Map(Object.entries(functions)),
    log: (l) => logs.push(l),
    ...opts,
  });
  services.push(s);
  const client = new LambdaClient({
    endpoint: s.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  clients.push(client);
  const invoke = (input: Omit<InvokeCommandInput, 'Payload'> & { payload?: unknown; raw?: string }) => {
    const { payload, raw, ...rest } = input;
    const body = raw ?? (payload === undefined ? undefined : JSON.stringify(payload));
    return client.send(new InvokeCommand({ ...rest, ...(body !== undefined ? { Payload: Buffer.from(body) } : {}) }));
  };
  return { service: s, client, invoke };
}

/** A handler that records what it got. */
function recorder(respond: (event: any, call: number) => unknown = (event) => ({ echo: event })) {
  const events: any[] = [];
  const contexts: any[] = [];
  const invoke: Invoke = async (event, context) => {
    events.push(event);
    contexts.push(context);
    return respond(event, events.length);
  };
  return { events, contexts, invoke };
}

const text = (payload: Uint8Array | undefined) => Buffer.from(payload ?? new Uint8Array()).toString('utf8');

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('RequestResponse', () => {
  it('answers 200 with the JSON result and $LATEST, with a fresh context per call', async () => {
    const echo = recorder();
    const { invoke } = await service({ echo: echo.invoke });
    const out = await invoke({ FunctionName: 'echo', payload: { hello: 'world', n: [1, 2] } });
    expect(out.StatusCode).toBe(200);
    expect(out.ExecutedVersion).toBe('$LATEST');
    expect(out.FunctionError).toBeUndefined();
    expect(JSON.parse(text(out.Payload))).toEqual({ echo: { hello: 'world', n: [1, 2] } });

    await invoke({ FunctionName: 'echo', payload: {} });
    expect(echo.contexts[0].functionName).toBe('echo');
    expect(echo.contexts[0].awsRequestId).not.toBe(echo.contexts[1].awsRequestId);
  });

  it('answers null for a handler that returns nothing, and passes {} for an empty payload', async () => {
    const quiet = recorder(() => undefined);
    const { invoke } = await service({ quiet: quiet.invoke });
    const out = await invoke({ FunctionName: 'quiet' });
    expect(text(out.Payload)).toBe('null');
    expect(quiet.events[0]).toEqual({});
  });

  it('turns a throw into FunctionError Unhandled with the runtime error payload', async () => {
    const { invoke, service: s } = await service({
      broken: async () => {
        throw new TypeError('boom');
      },
    });
    const out = await invoke({ FunctionName: 'broken', payload: {} });
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBe('Unhandled');
    const body = JSON.parse(text(out.Payload));
    expect(body).toMatchObject({ errorType: 'TypeError', errorMessage: 'boom' });
    expect(Array.isArray(body.trace)).toBe(true);
    expect(s.stats()).toMatchObject({ invocations: 1, sync: 1, errors: 1 });
  });

  it('hands X-Amz-Client-Context to the handler and answers a log tail when asked', async () => {
    const echo = recorder(() => 'ok');
    const { invoke } = await service({ echo: echo.invoke });
    const clientContext = Buffer.from(JSON.stringify({ custom: { from: 'test' } })).toString('base64');
    const out = await invoke({ FunctionName: 'echo', payload: {}, ClientContext: clientContext, LogType: 'Tail' });
    expect(echo.contexts[0].clientContext).toEqual({ custom: { from: 'test' } });
    expect(Buffer.from(out.LogResult ?? '', 'base64').toString()).toMatch(/^START RequestId: .*\nREPORT RequestId: /s);
  });
});

describe('Event', () => {
  it('answers 202 at once and runs the handler in the background', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const slow = recorder(async () => {
      await released;
    });
    const { invoke, service: s } = await service({ slow: slow.invoke });
    const out = await invoke({ FunctionName: 'slow', InvocationType: 'Event', payload: { job: 1 } });
    expect(out.StatusCode).toBe(202);
    expect(text(out.Payload)).toBe('');
    expect(s.stats().inFlight).toBe(1);

    let idle = false;
    const idling = s.idle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(idle).toBe(false);
    release();
    await idling;
    expect(slow.events).toEqual([{ job: 1 }]);
  });

  it('retries a throwing handler twice, then succeeds or drops the event with a log line', async () => {
    const flaky = recorder((_, call) => {
      if (call < 3) throw new Error(`flaky ${call}`);
      return 'ok';
    });
    const broken = recorder(() => {
      throw new Error('always');
    });
    const { invoke, service: s } = await service(
      { flaky: flaky.invoke, broken: broken.invoke },
      { asyncRetryDelaysMs: [10, 20] },
    );
    await invoke({ FunctionName: 'flaky', InvocationType: 'Event', payload: { n: 1 } });
    await invoke({ FunctionName: 'broken', InvocationType: 'Event', payload: { n: 2 } });
    await s.idle();

    expect(flaky.events).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    expect(broken.events).toHaveLength(3);
    expect(s.stats()).toMatchObject({
      async: 2,
      invocations: 6,
      errors: 5,
      asyncRetries: 4,
      asyncDropped: 1,
      inFlight: 0,
    });
    expect(logs.filter((l) => l.includes('dropped'))).toEqual([expect.stringContaining('broken failed 3 time(s)')]);
    // Each attempt is a separate delivery: its own request id.
    expect(new Set(flaky.contexts.map((c) => c.awsRequestId)).size).toBe(3);
  });

  it("hands an event whose retries all failed to its on-failure destination as AWS's invocation record", async () => {
    const broken = recorder(() => {
      throw new TypeError('worker crashed');
    });
    const records: AsyncFailureRecord[] = [];
    const { invoke, service: s } = await service(
      { broken: broken.invoke, other: recorder(() => 'ok').invoke },
      {
        asyncRetryDelaysMs: [10, 20],
        asyncOnFailure: new Map([['broken', async (r: AsyncFailureRecord) => void records.push(r)]]),
      },
    );
    const accepted = await invoke({
      FunctionName: 'broken',
      InvocationType: 'Event',
      payload: { eventId: 'e1', shard: 3 },
    });
    await s.idle();

    expect(broken.events).toHaveLength(3);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      version: '1.0',
      requestContext: {
        requestId: accepted.$metadata.requestId,
        functionArn: expect.stringMatching(/^arn:aws:lambda:[^:]+:000000000000:function:broken:\$LATEST$/),
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
      },
      requestPayload: { eventId: 'e1', shard: 3 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'TypeError', errorMessage: 'worker crashed' },
    });
    expect(asyncFailureRecordSchema.parse(records[0])).toBeTruthy();
    expect(s.stats()).toMatchObject({ asyncDropped: 1, asyncFailureRecords: 1 });
  });

  it('drops events waiting for a retry on close', async () => {
    const broken = recorder(() => {
      throw new Error('always');
    });
    const { invoke, service: s } = await service({ broken: broken.invoke }, { asyncRetryDelaysMs: [60_000] });
    await invoke({ FunctionName: 'broken', InvocationType: 'Event', payload: {} });
    const deadline = Date.now() + 5_000;
    while (s.stats().asyncRetries === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await s.close();
    expect(s.stats()).toMatchObject({ asyncDropped: 1, inFlight: 0 });
    await s.idle(); // nothing in flight any more
  });
});

describe('addressing and refusals', () => {
  it('finds a function by name, partial ARN, ARN or qualified name', async () => {
    const echo = recorder(() => 'ok');
    const { invoke } = await service({ echo: echo.invoke });
    for (const FunctionName of [
      'echo',
      '000000000000:function:echo',
      'arn:aws:lambda:us-east-1:000000000000:function:echo',
      'echo:$LATEST',
    ]) {
      const out = await invoke({ FunctionName, payload: {} });
      expect(out.StatusCode).toBe(200);
    }
    expect(echo.events).toHaveLength(4);
    expect(functionNameOf('arn:aws:lambda:eu-west-1:123456789012:function:fanout:live')).toBe('fanout');
  });

  it('answers ResourceNotFoundException (404) for an unknown function', async () => {
    const { invoke } = await service({});
    const err = await rejection(invoke({ FunctionName: 'missing', payload: {} }));
    expect(err.name).toBe('ResourceNotFoundException');
    expect(err.$metadata.httpStatusCode).toBe(404);
    expect(err.message).toMatch(/Function not found: arn:aws:lambda:.*:function:missing/);
  });

  it('answers DryRun with 204 without running the handler', async () => {
    const echo = recorder();
    const { invoke } = await service({ echo: echo.invoke });
    const out = await invoke({ FunctionName: 'echo', InvocationType: 'DryRun', payload: {} });
    expect(out.StatusCode).toBe(204);
    expect(echo.events).toHaveLength(0);
    expect((await rejection(invoke({ FunctionName: 'nope', InvocationType: 'DryRun' }))).name).toBe(
      'ResourceNotFoundException',
    );
  });

  it("refuses payloads over AWS's limits, 6 MB sync and 1 MB async, with RequestTooLargeException (413)", async () => {
    const echo = recorder(() => 'ok');
    const { invoke } = await service({ echo: echo.invoke });
    const err = await rejection(
      invoke({ FunctionName: 'echo', InvocationType: 'Event', raw: JSON.stringify('x'.repeat(1024 * 1024)) }),
    );
    expect(err.name).toBe('RequestTooLargeException');
    const ok = await invoke({ FunctionName: 'echo', raw: JSON.stringify('x'.repeat(1024 * 1024)) });
    expect(ok.StatusCode).toBe(200);
    const tooBig = await rejection(invoke({ FunctionName: 'echo', raw: JSON.stringify('x'.repeat(6 * 1024 * 1024)) }));
    expect(tooBig.name).toBe('RequestTooLargeException');
    expect(tooBig.$metadata.httpStatusCode).toBe(413);
    expect(echo.events).toHaveLength(1);
  });

  it('refuses a body that is not JSON with InvalidRequestContentException', async () => {
    const { invoke } = await service({ echo: recorder().invoke });
    const err = await rejection(invoke({ FunctionName: 'echo', raw: 'not json' }));
    expect(err.name).toBe('InvalidRequestContentException');
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  it('names LAMBDA_PORT when its port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await expect(startLambdaService({ port, functions: new Map(), log: () => {} })).rejects.toThrow(/LAMBDA_PORT/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
