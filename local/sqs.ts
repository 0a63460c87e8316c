// Local stand-in for Amazon SQS: the AWS JSON 1.0 protocol subset that the real SQSClient uses for
// failure queues (create, look up, send, receive with visibility timeout and long polling, delete,
// change visibility, count). In memory; standard queues only.
//
// Why hand-written (looked up 2026-12): fauxqs, the maintained npm emulator, needs Node ≥ 22.5 since
// 2.0 (its last Node 20 release, 1.9.2, is frozen and brings fastify plus the S3 and SNS clients for
// five SQS calls); serverless-offline-sqs and serverless-sqs-local run ElasticMQ (a Java download);
// local-aws-sqs speaks the old query protocol, which @aws-sdk/client-sqs no longer sends; sqs-mock
// replaces the client rather than serving it. The other stand-ins here are node:http servers too.
//
// Not imitated: FIFO queues, message attributes, batch calls, redrive policies, retention (messages
// stay until deleted), DelaySeconds, at-least-once duplicates (a message is received at most once
// per visibility window).
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import { listen } from './errors';

export interface SqsServiceOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly log?: (line: string) => void;
}

export interface SqsService {
  /** `http://host:port`, what SQSClient takes as `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Creates a queue (idempotent) and returns its URL, as CreateQueue does. */
  createQueue(name: string): string;
  /** Stops listening and ends waiting long polls with no messages. */
  close(): Promise<void>;
}

const account = '000000000000';
const defaultVisibilitySeconds = 30;
const maxVisibilitySeconds = 12 * 60 * 60;
const maxWaitSeconds = 20;
/** SQS's limit for one message body (1 MiB since 2025). */
const maxBodyBytes = 1024 * 1024;

interface Message {
  readonly id: string;
  readonly body: string;
  readonly md5: string;
  readonly sentAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  visibleAt: number;
  /** Only the latest receipt handle deletes the message, as SQS documents. */
  handle: string | undefined;
}

interface Queue {
  readonly name: string;
  readonly url: string;
  readonly visibilitySeconds: number;
  readonly messages: Message[];
  readonly waiters: Set<() => void>;
}

class SqsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    readonly queryCode = type,
  ) {
    super(message);
  }
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

function integer(input: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const raw = input[key];
  if (raw === undefined || raw === null) return fallback;
  const n = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new SqsError(
      'InvalidParameterValue',
      `Value ${raw as string | number} for parameter ${key} is invalid. Reason: must be between ${min} and ${max}.`,
    );
  }
  return n;
}

function text(input: Record<string, unknown>, key: string): string {
  const v = input[key];
  if (typeof v !== 'string' || v === '')
    throw new SqsError('MissingParameter', `The request must contain the parameter ${key}.`);
  return v;
}

export async function startSqsService(opts: SqsServiceOptions): Promise<SqsService> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => console.log(line));
  const queues = new Queues();
  const actions = sqsActions(queues);
  const server = http.createServer({ keepAlive: true });
  // A long poll holds its request up to 20 s.
  server.requestTimeout = 0;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void serve(actions, req, log).then((answer) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
      res.end(answer.body);
    });
  });
  const port = await listen(server, opts.port, host, 'SQS_PORT', 'Local SQS service');
  const endpoint = `http://${host}:${port}`;
  queues.endpoint = endpoint;
  log(`SQS API on ${endpoint}`);

  let closed: Promise<void> | undefined;
  return {
    endpoint,
    port,
    createQueue: (name) => queues.create(name).url,
    close() {
      closed ??= (async () => {
        queues.closing = true;
        for (const q of queues.byName.values()) queues.wakeWaiters(q);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Let answers to the woken long polls out before cutting keep-alive sockets.
        await new Promise((resolve) => setImmediate(resolve));
        server.closeAllConnections();
        await stopped;
      })();
      return closed;
    },
  };
}

type Action = (input: Record<string, unknown>) => unknown;

/** The queues and their messages, in memory. */
class Queues {
  readonly byName = new Map<string, Queue>();
  /** Set once the server listens: queue URLs are on it. */
  endpoint = '';
  closing = false;

  create(name: string, attributes: Record<string, unknown> = {}): Queue {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
      throw new SqsError(
        'InvalidParameterValue',
        `Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length`,
      );
    }
    const visibilitySeconds = integer(
      attributes,
      'VisibilityTimeout',
      defaultVisibilitySeconds,
      0,
      maxVisibilitySeconds,
    );
    const existing = this.byName.get(name);
    if (existing) {
      if (existing.visibilitySeconds !== visibilitySeconds) {
        throw new SqsError(
          'QueueNameExists',
          `A queue already exists with the same name and a different value for attribute VisibilityTimeout`,
        );
      }
      return existing;
    }
    const queue: Queue = {
      name,
      url: `${this.endpoint}/${account}/${name}`,
      visibilitySeconds,
      messages: [],
      waiters: new Set(),
    };
    this.byName.set(name, queue);
    return queue;
  }

  queueOf(input: Record<string, unknown>): Queue {
    const url = text(input, 'QueueUrl');
    const name = url.split('/').filter(Boolean).pop() ?? '';
    const queue = this.byName.get(name);
    if (!queue)
      throw new SqsError(
        'QueueDoesNotExist',
        'The specified queue does not exist.',
        400,
        'AWS.SimpleQueueService.NonExistentQueue',
      );
    return queue;
  }

  wakeWaiters(queue: Queue): void {
    for (const w of [...queue.waiters]) w();
  }

  take(queue: Queue, max: number, visibilitySeconds: number): Message[] {
    const now = Date.now();
    const out: Message[] = [];
    for (const m of queue.messages) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      m.receiveCount++;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibilitySeconds * 1000;
      m.handle = `${queue.name}:${m.id}:${randomUUID()}`;
      out.push(m);
    }
    return out;
  }

  /** Long polling: waits for a send or for a hidden message's visibility to run out, up to the deadline. */
  async receive(queue: Queue, max: number, visibilitySeconds: number, waitSeconds: number): Promise<Message[]> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const got = this.take(queue, max, visibilitySeconds);
      const now = Date.now();
      if (got.length > 0 || now >= deadline || this.closing) return got;
      const nextVisible = Math.min(...queue.messages.map((m) => m.visibleAt), deadline);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          queue.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, nextVisible - now));
        queue.waiters.add(done);
      });
    }
  }

  findByHandle(queue: Queue, handle: string): Message | undefined {
    const [name, id] = handle.split(':');
    if (name !== queue.name || !id)
      throw new SqsError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    const m = queue.messages.find((x) => x.id === id);
    // A stale handle (the message was received again since) succeeds and does nothing, as on SQS.
    return m && m.handle === handle ? m : undefined;
  }
}

/** The SQS API's actions (JSON 1.0), by name. */
function sqsActions(queues: Queues): Record<string, Action> {
  return {
    CreateQueue: (input) => ({
      QueueUrl: queues.create(text(input, 'QueueName'), (input.Attributes ?? {}) as Record<string, unknown>).url,
    }),
    GetQueueUrl: (input) => {
      const queue = queues.byName.get(text(input, 'QueueName'));
      if (!queue)
        throw new SqsError(
          'QueueDoesNotExist',
          'The specified queue does not exist.',
          400,
          'AWS.SimpleQueueService.NonExistentQueue',
        );
      return { QueueUrl: queue.url };
    },
    SendMessage: (input) => {
      const queue = queues.queueOf(input);
      const body = input.MessageBody;
      if (typeof body !== 'string' || body === '')
        throw new SqsError('MissingParameter', 'The request must contain the parameter MessageBody.');
      if (Buffer.byteLength(body) > maxBodyBytes) {
        throw new SqsError(
          'InvalidParameterValue',
          `One or more parameters are invalid. Reason: Message must be shorter than ${maxBodyBytes} bytes.`,
        );
      }
      const m: Message = {
        id: randomUUID(),
        body,
        md5: md5(body),
        sentAt: Date.now(),
        receiveCount: 0,
        firstReceivedAt: undefined,
        visibleAt: 0,
        handle: undefined,
      };
      queue.messages.push(m);
      queues.wakeWaiters(queue);
      return { MessageId: m.id, MD5OfMessageBody: m.md5 };
    },
    ReceiveMessage: async (input) => {
      const queue = queues.queueOf(input);
      const max = integer(input, 'MaxNumberOfMessages', 1, 1, 10);
      const visibility = integer(input, 'VisibilityTimeout', queue.visibilitySeconds, 0, maxVisibilitySeconds);
      const wait = integer(input, 'WaitTimeSeconds', 0, 0, maxWaitSeconds);
      const wanted = new Set([
        ...((input.AttributeNames as string[] | undefined) ?? []),
        ...((input.MessageSystemAttributeNames as string[] | undefined) ?? []),
      ]);
      const all = wanted.has('All');
      const got = await queues.receive(queue, max, visibility, wait);
      return {
        Messages: got.map((m) => {
          const attributes: Record<string, string> = {
            SentTimestamp: String(m.sentAt),
            ApproximateReceiveCount: String(m.receiveCount),
            ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt ?? ''),
          };
          const picked = Object.fromEntries(Object.entries(attributes).filter(([k]) => all || wanted.has(k)));
          return {
            MessageId: m.id,
            ReceiptHandle: m.handle,
            MD5OfBody: m.md5,
            Body: m.body,
            ...(Object.keys(picked).length > 0 ? { Attributes: picked } : {}),
          };
        }),
      };
    },
    DeleteMessage: (input) => {
      const queue = queues.queueOf(input);
      const m = queues.findByHandle(queue, text(input, 'ReceiptHandle'));
      if (m) queue.messages.splice(queue.messages.indexOf(m), 1);
      return {};
    },
    ChangeMessageVisibility: (input) => {
      const queue = queues.queueOf(input);
      const visibility = integer(input, 'VisibilityTimeout', 0, 0, maxVisibilitySeconds);
      const m = queues.findByHandle(queue, text(input, 'ReceiptHandle'));
      if (!m || m.visibleAt <= Date.now())
        throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.');
      m.visibleAt = Date.now() + visibility * 1000;
      queues.wakeWaiters(queue);
      return {};
    },
    GetQueueAttributes: (input) => {
      const queue = queues.queueOf(input);
      const now = Date.now();
      const visible = queue.messages.filter((m) => m.visibleAt <= now).length;
      const attributes: Record<string, string> = {
        ApproximateNumberOfMessages: String(visible),
        ApproximateNumberOfMessagesNotVisible: String(queue.messages.length - visible),
        ApproximateNumberOfMessagesDelayed: '0',
        VisibilityTimeout: String(queue.visibilitySeconds),
        QueueArn: `arn:aws:sqs:${process.env.AWS_REGION ?? 'us-east-1'}:${account}:${queue.name}`,
      };
      const names = (input.AttributeNames as string[] | undefined) ?? [];
      const all = names.includes('All');
      return { Attributes: Object.fromEntries(Object.entries(attributes).filter(([k]) => all || names.includes(k))) };
    },
  };
}

async function serve(
  actions: Record<string, Action>,
  req: http.IncomingMessage,
  log: (line: string) => void,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const target = String(req.headers['x-amz-target'] ?? '');
  const action = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : '';
  const json = { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': randomUUID() };
  try {
    const handler = actions[action];
    if (req.method !== 'POST' || !handler)
      throw new SqsError(
        'InvalidAction',
        `The action ${action || target || req.method} is not valid for this endpoint.`,
      );
    let input: unknown;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      throw new SqsError('SerializationException', 'The request body is not valid JSON.');
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input))
      throw new SqsError('SerializationException', 'The request body must be a JSON object.');
    return { status: 200, headers: json, body: JSON.stringify(await handler(input as Record<string, unknown>)) };
  } catch (err) {
    const e =
      err instanceof SqsError ? err : new SqsError('InternalError', 'Internal error in the local SQS service', 500);
    if (!(err instanceof SqsError)) log(`sqs: ${action} failed: ${err instanceof Error ? err.message : String(err)}`);
    // The SDK reads the error's name from __type; the query-compatible header keeps the classic code.
    return {
      status: e.status,
      headers: { ...json, 'x-amzn-query-error': `${e.queryCode};${e.status >= 500 ? 'Receiver' : 'Sender'}` },
      body: JSON.stringify({ __type: `com.amazonaws.sqs#${e.type}`, message: e.message }),
    };
  }
}
