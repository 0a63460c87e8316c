// Local stand-in for the Lambda Invoke API, so the real LambdaClient (endpoint = this service) invokes in-process handlers with AWS's answers, limits and async retries.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Context } from 'aws-lambda';
import type { AsyncFailureRecord } from '../shared/domain/redrive/failure-records';
import { listen } from './errors';
import { lambdaContext, type Invoke } from './lambda-context';

// `any` on purpose: callers send whatever JSON the target handler expects.
export type { Invoke };

export interface LambdaServiceOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  /** Function name → handler. Callers may address a function by name, partial ARN or ARN. */
  readonly functions: ReadonlyMap<string, Invoke>;
  /**
   * Waits before each retry of a failed `Event` invocation; its length is the number of retries.
   * Default [1000, 2000]: AWS retries twice, about 1 and 2 minutes apart, scaled down here.
   */
  readonly asyncRetryDelaysMs?: readonly number[];
  /** RequestResponse payload limit; default 6 MB (6,291,456 bytes), as AWS. */
  readonly maxSyncPayloadBytes?: number;
  /** Event payload limit; default 1 MB (1,048,576 bytes), AWS's since late 2025 (it was 256 KB). */
  readonly maxAsyncPayloadBytes?: number;
  /** Named in the port-in-use error; default LAMBDA_PORT. */
  readonly portEnvVar?: string;
  /**
   * On-failure destinations by function name: an `Event` invocation whose retries all failed is
   * handed over as AWS's asynchronous invocation record (condition RetriesExhausted, the payload,
   * the last error), instead of being dropped.
   */
  readonly asyncOnFailure?: ReadonlyMap<string, (record: AsyncFailureRecord) => Promise<void>>;
  /** Lifecycle and failure lines only (async events dropped after their retries); nothing per call. */
  readonly log?: (line: string) => void;
}

export interface LambdaServiceStats {
  /** Handler runs, async retries included. */
  invocations: number;
  /** RequestResponse calls that reached a handler. */
  sync: number;
  /** Event calls accepted (202). */
  async: number;
  /** Handler runs that threw (or returned something that is not JSON). */
  errors: number;
  asyncRetries: number;
  /** Event invocations given up after their last retry failed (sent to a destination or not). */
  asyncDropped: number;
  /** Of those, the ones whose record went to an on-failure destination. */
  asyncFailureRecords: number;
  /** Invocations running or waiting for a retry right now. */
  inFlight: number;
}

export interface LambdaService {
  /** `http://host:port`, what LambdaClient takes as `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Resolves when no invocation runs and none waits for an async retry; rejects after timeoutMs (default 10 s). */
  idle(timeoutMs?: number): Promise<void>;
  stats(): LambdaServiceStats;
  /** Stops listening, drops pending async retries, and waits for running handlers. */
  close(): Promise<void>;
}

export const maxSyncPayloadBytes = 6 * 1024 * 1024;
export const maxAsyncPayloadBytes = 1024 * 1024;
/** A function's response is capped as its request is; a bigger one is a function error. */
const maxResponseBytes = 6 * 1024 * 1024;

const invokePath = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** An error answer the way Lambda writes it: the type in a header, `Type` and `message` in the body. */
function refusal(status: number, errorType: string, message: string, type: 'User' | 'Service' = 'User'): Answer {
  return {
    status,
    headers: { 'x-amzn-ErrorType': errorType, 'content-type': 'application/json' },
    body: JSON.stringify({ Type: type, message }),
  };
}

/**
 * The function's name from any form AWS accepts: `name`, `name:qualifier`, `123456789012:function:name`
 * or a full ARN, each with an optional qualifier. There are no versions or aliases locally: a
 * qualifier is accepted and the code that runs is $LATEST.
 */
export function functionNameOf(ref: string): string {
  const parts = ref.split(':');
  const at = parts.indexOf('function');
  if (at >= 0 && at + 1 < parts.length) return parts[at + 1] ?? ref;
  return parts[0] ?? ref;
}

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** The Node.js runtime's error payload: errorType, errorMessage, trace (the stack lines). */
function errorPayload(err: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (err instanceof Error) {
    return { errorType: err.name, errorMessage: err.message, trace: err.stack ? err.stack.split('\n') : [] };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

export async function startLambdaService(opts: LambdaServiceOptions): Promise<LambdaService> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => console.log(line));
  const retryDelays = opts.asyncRetryDelaysMs ?? [1_000, 2_000];
  const syncLimit = opts.maxSyncPayloadBytes ?? maxSyncPayloadBytes;
  const asyncLimit = opts.maxAsyncPayloadBytes ?? maxAsyncPayloadBytes;

  const counters = {
    invocations: 0,
    sync: 0,
    async: 0,
    errors: 0,
    asyncRetries: 0,
    asyncDropped: 0,
    asyncFailureRecords: 0,
  };
  let inFlight = 0;
  let closing = false;
  const running = new Set<Promise<unknown>>();
  /** Async events waiting out a retry delay: the timer, and how to give the event up on close. */
  const waiting = new Map<NodeJS.Timeout, () => void>();
  const idleWaiters = new Set<() => void>();

  const begin = () => inFlight++;
  const end = () => {
    inFlight--;
    if (inFlight === 0) for (const w of [...idleWaiters]) w();
  };

  /** One handler run with a fresh context, as Lambda gives each invocation its own request id. */
  function run(name: string, invoke: Invoke, event: unknown, clientContext?: unknown): Promise<unknown> {
    counters.invocations++;
    const context = lambdaContext(name);
    if (clientContext !== undefined) Object.assign(context, { clientContext });
    const p = (async () => invoke(event, context))();
    running.add(p);
    void p.then(
      () => running.delete(p),
      () => running.delete(p),
    );
    return p;
  }

  /** After the last retry: AWS's invocation record (under the request id the 202 gave) to the function's on-failure destination, if it has one. */
  async function giveUp(
    name: string,
    requestId: string,
    payload: string,
    attempts: number,
    err: unknown,
  ): Promise<void> {
    counters.asyncDropped++;
    const destination = opts.asyncOnFailure?.get(name);
    const error = errorPayload(err);
    if (!destination) {
      log(`lambda: async invocation of ${name} failed ${attempts} time(s); event dropped: ${error.errorMessage}`);
      return;
    }
    const record: AsyncFailureRecord = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId,
        functionArn: `${lambdaContext(name).invokedFunctionArn}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: attempts,
      },
      requestPayload: JSON.parse(payload),
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: error,
    };
    try {
      await destination(record);
      counters.asyncFailureRecords++;
      log(
        `lambda: async invocation of ${name} failed ${attempts} time(s); its record went to the on-failure destination: ${error.errorMessage}`,
      );
    } catch (destErr) {
      log(
        `lambda: async invocation of ${name} failed ${attempts} time(s) and its on-failure destination refused the record (${describe(destErr)}); event dropped: ${error.errorMessage}`,
      );
    }
  }

  function runAsync(name: string, invoke: Invoke, payload: string, attempt: number, requestId: string): void {
    // Each attempt gets its own copy of the event, as each is a separate delivery in AWS.
    run(name, invoke, JSON.parse(payload)).then(
      () => end(),
      (err: unknown) => {
        counters.errors++;
        const delay = retryDelays[attempt];
        if (delay === undefined || closing) {
          void giveUp(name, requestId, payload, attempt + 1, err).finally(end);
          return;
        }
        counters.asyncRetries++;
        const timer = setTimeout(() => {
          waiting.delete(timer);
          runAsync(name, invoke, payload, attempt + 1, requestId);
        }, delay);
        waiting.set(timer, () => {
          counters.asyncDropped++;
          log(`lambda: async invocation of ${name} dropped on close while waiting to retry`);
          end();
        });
      },
    );
  }

  async function serve(req: http.IncomingMessage): Promise<Answer> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = invokePath.exec(url.pathname);
    if (!match?.[1]) {
      // Drain the body so the keep-alive connection stays usable.
      req.resume();
      return refusal(404, 'UnknownOperationException', `Unknown operation: ${req.method} ${url.pathname}`);
    }
    if (req.method !== 'POST') {
      req.resume();
      return refusal(405, 'UnknownOperationException', `Unknown operation: ${req.method} ${url.pathname}`);
    }
    const ref = decodeURIComponent(match[1]);
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const limit = type === 'Event' ? asyncLimit : syncLimit;

    // Read all of it even when too large, so the client gets the 413 rather than a reset socket.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    }

    const name = functionNameOf(ref);
    const invoke = opts.functions.get(name);
    if (!invoke) {
      const arn = ref.startsWith('arn:')
        ? ref
        : `arn:aws:lambda:${process.env.AWS_REGION ?? 'local'}:000000000000:function:${ref}`;
      return refusal(404, 'ResourceNotFoundException', `Function not found: ${arn}`);
    }
    if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
      return refusal(400, 'InvalidParameterValueException', `Unsupported invocation type: ${type}`);
    }
    if (size > limit) {
      return refusal(
        413,
        'RequestTooLargeException',
        `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
      );
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let event: unknown = {};
    if (text.trim() !== '') {
      try {
        event = JSON.parse(text);
      } catch (err) {
        return refusal(
          400,
          'InvalidRequestContentException',
          `Could not parse request body into json: ${(err as Error).message}`,
        );
      }
    }
    const requestId = randomUUID();
    if (type === 'DryRun') return { status: 204, headers: { 'x-amzn-RequestId': requestId } };
    if (closing) return refusal(503, 'ServiceException', 'The local Lambda service is shutting down', 'Service');

    if (type === 'Event') {
      counters.async++;
      begin();
      runAsync(name, invoke, text.trim() === '' ? '{}' : text, 0, requestId);
      return { status: 202, headers: { 'x-amzn-RequestId': requestId } };
    }

    counters.sync++;
    begin();
    try {
      const headers: Record<string, string> = {
        'x-amzn-RequestId': requestId,
        'X-Amz-Executed-Version': '$LATEST',
        'content-type': 'application/json',
      };
      const started = Date.now();
      let body: string;
      try {
        const result = await run(name, invoke, event, clientContextOf(req));
        try {
          body = JSON.stringify(result === undefined ? null : result);
        } catch (err) {
          throw Object.assign(new Error(`Unable to stringify response body: ${(err as Error).message}`), {
            name: 'Runtime.ResponseSerializationError',
          });
        }
        if (Buffer.byteLength(body) > maxResponseBytes) {
          throw Object.assign(
            new Error(
              `Response payload size (${Buffer.byteLength(body)} bytes) exceeded maximum allowed payload size (${maxResponseBytes} bytes).`,
            ),
            { name: 'Function.ResponseSizeTooLarge' },
          );
        }
      } catch (err) {
        counters.errors++;
        headers['X-Amz-Function-Error'] = 'Unhandled';
        body = JSON.stringify(errorPayload(err));
      }
      if (String(req.headers['x-amz-log-type'] ?? '') === 'Tail') {
        // No log capture locally: the platform's own lines, so callers that decode the tail find its shape.
        const tail = `START RequestId: ${requestId} Version: $LATEST\nEND RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: ${Date.now() - started} ms\t\n`;
        headers['X-Amz-Log-Result'] = Buffer.from(tail).toString('base64');
      }
      return { status: 200, headers, body };
    } finally {
      end();
    }
  }

  const server = http.createServer({ keepAlive: true, noDelay: true });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Handlers may run for as long as they need; a Lambda sync call can take 15 minutes.
  server.requestTimeout = 0;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    serve(req)
      .catch((err: unknown): Answer => {
        log(`lambda: ${req.method} ${req.url} failed: ${err instanceof Error ? err.message : String(err)}`);
        return refusal(500, 'ServiceException', 'Internal error in the local Lambda service', 'Service');
      })
      .then((answer) => {
        if (res.headersSent || res.destroyed) return;
        const body = answer.body ?? '';
        res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      });
  });

  const port = await listen(server, opts.port, host, opts.portEnvVar ?? 'LAMBDA_PORT', 'Local Lambda service');
  const endpoint = `http://${host}:${port}`;
  log(`Lambda Invoke API on ${endpoint} (${opts.functions.size} function${opts.functions.size === 1 ? '' : 's'})`);

  let closed: Promise<void> | undefined;
  return {
    endpoint,
    port,
    idle(timeoutMs = 10_000) {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(() => {
          idleWaiters.delete(done);
          reject(new Error(`local Lambda service still had ${inFlight} invocation(s) in flight after ${timeoutMs} ms`));
        }, timeoutMs);
        idleWaiters.add(done);
      });
    },
    stats: () => ({ ...counters, inFlight }),
    close() {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        for (const [timer, drop] of waiting) {
          clearTimeout(timer);
          drop();
        }
        waiting.clear();
        while (running.size > 0) await Promise.allSettled([...running]);
        // A sync call writes its answer a tick after its handler settles; let it out, then cut keep-alive sockets.
        await new Promise((resolve) => setImmediate(resolve));
        server.closeAllConnections();
        await stopped;
      })();
      return closed;
    },
  };
}

/** `X-Amz-Client-Context` is base64 JSON; Lambda hands it to synchronous invocations as context.clientContext. */
function clientContextOf(req: http.IncomingMessage): unknown {
  const header = req.headers['x-amz-client-context'];
  if (typeof header !== 'string' || header === '') return undefined;
  try {
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}
