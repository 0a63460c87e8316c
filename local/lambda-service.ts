// Local stand-in for the Lambda Invoke API, so the real LambdaClient (endpoint = this service) invokes in-process handlers with AWS's answers, limits and async retries.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
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

/** RequestResponse payload limit: 6 MB (6,291,456 bytes), as AWS. */
export const maxSyncPayloadBytes = 6 * 1024 * 1024;
/** Event payload limit: 1 MB (1,048,576 bytes), AWS's since late 2025 (it was 256 KB). */
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
  const service = new LocalLambda(
    opts.functions,
    opts.asyncOnFailure,
    opts.asyncRetryDelaysMs ?? [1_000, 2_000],
    opts.log,
  );
  const server = http.createServer({ keepAlive: true, noDelay: true });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Handlers may run for as long as they need; a Lambda sync call can take 15 minutes.
  server.requestTimeout = 0;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void service
      .serve(req)
      .catch((err: unknown): Answer => {
        service.log(`lambda: ${req.method} ${req.url} failed: ${err instanceof Error ? err.message : String(err)}`);
        return refusal(500, 'ServiceException', 'Internal error in the local Lambda service', 'Service');
      })
      .then((answer) => {
        if (res.headersSent || res.destroyed) return;
        const body = answer.body ?? '';
        res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      });
  });

  const port = await listen(server, opts.port, host, 'LAMBDA_PORT', 'Local Lambda service');
  const endpoint = `http://${host}:${port}`;
  service.log(
    `Lambda Invoke API on ${endpoint} (${opts.functions.size} function${opts.functions.size === 1 ? '' : 's'})`,
  );

  let closed: Promise<void> | undefined;
  return {
    endpoint,
    port,
    idle: (timeoutMs = 10_000) => service.idle(timeoutMs),
    stats: () => service.stats(),
    close() {
      closed ??= service.close(server);
      return closed;
    },
  };
}

/** The service's invocations: runs them, retries the async ones, and knows when none is left. */
class LocalLambda {
  readonly log: (line: string) => void;
  private readonly counters = {
    invocations: 0,
    sync: 0,
    async: 0,
    errors: 0,
    asyncRetries: 0,
    asyncDropped: 0,
    asyncFailureRecords: 0,
  };
  private inFlight = 0;
  private closing = false;
  private readonly running = new Set<Promise<unknown>>();
  /** Async events waiting out a retry delay: the timer, and how to give the event up on close. */
  private readonly waiting = new Map<NodeJS.Timeout, () => void>();
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    private readonly functions: ReadonlyMap<string, Invoke>,
    private readonly asyncOnFailure: LambdaServiceOptions['asyncOnFailure'],
    private readonly retryDelays: readonly number[],
    log: ((line: string) => void) | undefined,
  ) {
    this.log = log ?? ((line: string) => console.log(line));
  }

  stats(): LambdaServiceStats {
    return { ...this.counters, inFlight: this.inFlight };
  }

  private begin(): void {
    this.inFlight++;
  }

  private end(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const w of [...this.idleWaiters]) w();
  }

  /** One handler run with a fresh context, as Lambda gives each invocation its own request id. */
  private run(name: string, invoke: Invoke, event: unknown, clientContext?: unknown): Promise<unknown> {
    this.counters.invocations++;
    const context = lambdaContext(name);
    if (clientContext !== undefined) Object.assign(context, { clientContext });
    const p = (async (): Promise<unknown> => invoke(event, context))();
    this.running.add(p);
    void p.then(
      () => this.running.delete(p),
      () => this.running.delete(p),
    );
    return p;
  }

  /** After the last retry: AWS's invocation record (under the request id the 202 gave) to the function's on-failure destination, if it has one. */
  private async giveUp(
    name: string,
    requestId: string,
    payload: string,
    attempts: number,
    err: unknown,
  ): Promise<void> {
    this.counters.asyncDropped++;
    const destination = this.asyncOnFailure?.get(name);
    const error = errorPayload(err);
    if (!destination) {
      this.log(`lambda: async invocation of ${name} failed ${attempts} time(s); event dropped: ${error.errorMessage}`);
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
      this.counters.asyncFailureRecords++;
      this.log(
        `lambda: async invocation of ${name} failed ${attempts} time(s); its record went to the on-failure destination: ${error.errorMessage}`,
      );
    } catch (destErr) {
      this.log(
        `lambda: async invocation of ${name} failed ${attempts} time(s) and its on-failure destination refused the record (${describe(destErr)}); event dropped: ${error.errorMessage}`,
      );
    }
  }

  private runAsync(name: string, invoke: Invoke, payload: string, attempt: number, requestId: string): void {
    // Each attempt gets its own copy of the event, as each is a separate delivery in AWS.
    this.run(name, invoke, JSON.parse(payload)).then(
      () => this.end(),
      (err: unknown) => {
        this.counters.errors++;
        const delay = this.retryDelays[attempt];
        if (delay === undefined || this.closing) {
          void this.giveUp(name, requestId, payload, attempt + 1, err).finally(() => this.end());
          return;
        }
        this.counters.asyncRetries++;
        const timer = setTimeout(() => {
          this.waiting.delete(timer);
          this.runAsync(name, invoke, payload, attempt + 1, requestId);
        }, delay);
        this.waiting.set(timer, () => {
          this.counters.asyncDropped++;
          this.log(`lambda: async invocation of ${name} dropped on close while waiting to retry`);
          this.end();
        });
      },
    );
  }

  async serve(req: http.IncomingMessage): Promise<Answer> {
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
    const limit = type === 'Event' ? maxAsyncPayloadBytes : maxSyncPayloadBytes;
    const { text, size } = await readBody(req, limit);

    const name = functionNameOf(ref);
    const invoke = this.functions.get(name);
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
    if (this.closing) return refusal(503, 'ServiceException', 'The local Lambda service is shutting down', 'Service');

    if (type === 'Event') {
      this.counters.async++;
      this.begin();
      this.runAsync(name, invoke, text.trim() === '' ? '{}' : text, 0, requestId);
      return { status: 202, headers: { 'x-amzn-RequestId': requestId } };
    }
    this.counters.sync++;
    this.begin();
    try {
      return await this.invokeSync(req, name, invoke, event, requestId);
    } finally {
      this.end();
    }
  }

  /** A RequestResponse call: the handler's result, or its error the way Lambda reports a function error. */
  private async invokeSync(
    req: http.IncomingMessage,
    name: string,
    invoke: Invoke,
    event: unknown,
    requestId: string,
  ): Promise<Answer> {
    const headers: Record<string, string> = {
      'x-amzn-RequestId': requestId,
      'X-Amz-Executed-Version': '$LATEST',
      'content-type': 'application/json',
    };
    const started = Date.now();
    let body: string;
    try {
      body = responseBody(await this.run(name, invoke, event, clientContextOf(req)));
    } catch (err) {
      this.counters.errors++;
      headers['X-Amz-Function-Error'] = 'Unhandled';
      body = JSON.stringify(errorPayload(err));
    }
    if (headerText(req.headers['x-amz-log-type']) === 'Tail') {
      // No log capture locally: the platform's own lines, so callers that decode the tail find its shape.
      const tail = `START RequestId: ${requestId} Version: $LATEST\nEND RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: ${Date.now() - started} ms\t\n`;
      headers['X-Amz-Log-Result'] = Buffer.from(tail).toString('base64');
    }
    return { status: 200, headers, body };
  }

  idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.idleWaiters.delete(done);
        reject(
          new Error(`local Lambda service still had ${this.inFlight} invocation(s) in flight after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  async close(server: http.Server): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    for (const [timer, drop] of this.waiting) {
      clearTimeout(timer);
      drop();
    }
    this.waiting.clear();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    // A sync call writes its answer a tick after its handler settles; let it out, then cut keep-alive sockets.
    await new Promise((resolve) => setImmediate(resolve));
    server.closeAllConnections();
    await stopped;
  }
}

/** Reads all of the body even when too large (keeping only up to `limit`), so the client gets the 413 rather than a reset socket. */
async function readBody(req: http.IncomingMessage, limit: number): Promise<{ text: string; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), size };
}

/** The result as Lambda returns it (undefined is null), or the runtime's error when it is not JSON or too large. */
function responseBody(result: unknown): string {
  let body: string;
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
  return body;
}

const headerText = (value: string | string[] | undefined) => (typeof value === 'string' ? value : '');

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
