// The fan-out the AWS WebSocket samples write — Scan the connections table, then an unbounded Promise.all of SDK PostToConnection calls, no retry on 429 — plugged into the local stage as the Changes stream's consumer (StageOptions.wake), for comparison.
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { setMaxListeners } from 'node:events';
import type { AttributeValue, DynamoDBStreamEvent } from 'aws-lambda';
import { scanPages } from '../../shared/adapters/dynamo-paging';
import { ENV, TABLES } from '../../shared/config';

export interface NaiveOptions {
  /**
   * Memory guard of this one process: an invocation starts only while fewer posts than this are
   * pending (each pending SDK send holds ~10 KB; 120,000 of them ≈ 1.2 GB). On AWS each invocation
   * would have its own container; here they share one heap, so beyond the guard they queue, as
   * Lambda queues asynchronous invocations past its concurrency.
   */
  maxPendingPosts: number;
}

export interface NaiveStats {
  /** One per change: the sample's function runs once per published message. */
  invocations: number;
  /** Invocations that had to wait for the memory guard before they could start. */
  queued: number;
  scannedRows: number;
  scanMs: number;
  posts: number;
  ok: number;
  /** 429 LimitExceededException: the update is lost for that viewer (the sample does not retry). */
  throttled: number;
  gone: number;
  errors: number;
  /** Posts cut off when the benchmark's time bound ended the run. */
  aborted: number;
  /** Invocations that never started before the time bound (their updates reached no one). */
  notStarted: number;
  maxPending: number;
}

export interface NaiveFanout {
  /** The stage's `wake`: starts one invocation per new change and returns, as separate Lambda invocations would. */
  invoke(event: DynamoDBStreamEvent): Promise<void>;
  stats(): NaiveStats;
  /** Resolves when no invocation is running or queued, or at the deadline (performance.now()); true if idle. */
  idle(deadline: number): Promise<boolean>;
  /** The time bound: aborts every pending post and drops queued invocations; resolves when all have settled. */
  abort(): Promise<void>;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/**
 * Posts per AbortSignal. Each pending send listens on its signal and an EventTarget removes a
 * listener by walking its list: 100,000 sends on one signal would cost O(n²) in this harness.
 */
const SIGNAL_SHARE = 1024;
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The few DynamoDB JSON shapes a Changes item holds, to plain values (the stream hands DynamoDB JSON). */
function plain(v: AttributeValue): unknown {
  if (v.S !== undefined) return v.S;
  if (v.N !== undefined) return Number(v.N);
  if (v.BOOL !== undefined) return v.BOOL;
  if (v.NULL) return null;
  if (v.M) return Object.fromEntries(Object.entries(v.M).map(([k, x]) => [k, plain(x)]));
  if (v.L) return v.L.map(plain);
  return undefined;
}

export function naiveFanout(opts: NaiveOptions): NaiveFanout {
  const stats: NaiveStats = {
    invocations: 0,
    queued: 0,
    scannedRows: 0,
    scanMs: 0,
    posts: 0,
    ok: 0,
    throttled: 0,
    gone: 0,
    errors: 0,
    aborted: 0,
    notStarted: 0,
    maxPending: 0,
  };
  const running = new Set<Promise<void>>();
  const idleWaiters = new Set<() => void>();
  const admitWaiters: ((admitted: boolean) => void)[] = [];
  const controllers = new Set<AbortController>();
  let aborted = false;
  let pending = 0;
  /** Invocations between admission and their posts: each will add about `lastRows` posts. */
  let scanning = 0;
  /** Rows the last scan found; before any scan, unknown: one invocation at a time. */
  let lastRows = opts.maxPendingPosts;
  // Like the sample's module-scope DocumentClient: one per container.
  let db: DynamoDBDocumentClient | undefined;

  // Room for one more invocation: what is pending plus what the invocations still scanning will add.
  const room = () => pending + scanning * lastRows < opts.maxPendingPosts || (pending === 0 && scanning === 0);

  const admitNext = () => {
    while (!aborted && room() && admitWaiters.length > 0) {
      scanning++;
      admitWaiters.shift()!(true);
    }
  };

  const settle = (delta: number) => {
    pending += delta;
    admitNext();
  };

  async function admitted(): Promise<boolean> {
    if (room() && admitWaiters.length === 0) {
      scanning++;
      return true;
    }
    stats.queued++;
    return new Promise<boolean>((resolve) => admitWaiters.push(resolve));
  }

  async function invocation(image: Record<string, AttributeValue>): Promise<void> {
    stats.invocations++;
    if (!(await admitted())) {
      stats.notStarted++;
      return;
    }
    const slot = { scanning: true };
    try {
      await fanOut(image, slot);
    } finally {
      // An invocation that failed before its posts must not hold its place in the guard.
      if (slot.scanning) {
        scanning--;
        admitNext();
      }
    }
  }

  async function fanOut(image: Record<string, AttributeValue>, slot: { scanning: boolean }): Promise<void> {
    const change = plain({ M: image }) as { eventId: string; entry: unknown };
    const table = process.env[TABLES.connections.envVar] ?? '';
    db ??= DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: process.env[ENV.dynamoEndpoint],
        region: process.env.AWS_REGION ?? 'us-east-1',
        credentials: LOCAL_CREDENTIALS,
      }),
    );
    const data = JSON.stringify({ type: 'update', eventId: change.eventId, entry: change.entry });

    // The sample scans the whole table; it is paged here so every viewer is at least tried.
    const t0 = performance.now();
    const rows: { pk: string; connectionId: string }[] = [];
    const pages = scanPages(db, {
      TableName: table,
      FilterExpression: 'eventId = :e',
      ExpressionAttributeValues: { ':e': change.eventId },
      ProjectionExpression: 'pk, connectionId',
    });
    for await (const items of pages) {
      for (const item of items) rows.push({ pk: String(item.pk), connectionId: String(item.connectionId) });
      if (aborted) break;
    }
    stats.scanMs += performance.now() - t0;
    stats.scannedRows += rows.length;
    lastRows = Math.max(1, rows.length);

    // As in the sample: a client per invocation, the SDK's defaults (50 sockets), no retry.
    const api = new ApiGatewayManagementApiClient({
      endpoint: process.env[ENV.connectionsEndpoint],
      region: process.env.AWS_REGION ?? 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
      requestHandler: { logger: quiet },
    });
    const mine: AbortController[] = [];
    for (let i = 0; i < rows.length; i += SIGNAL_SHARE) {
      const c = new AbortController();
      setMaxListeners(SIGNAL_SHARE + 16, c.signal);
      controllers.add(c);
      mine.push(c);
      if (aborted) c.abort();
    }
    scanning--;
    slot.scanning = false;
    settle(rows.length);
    stats.maxPending = Math.max(stats.maxPending, pending);
    await Promise.all(
      rows.map(async ({ pk, connectionId }, i) => {
        stats.posts++;
        try {
          await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }), {
            abortSignal: mine[Math.floor(i / SIGNAL_SHARE)]!.signal,
          });
          stats.ok++;
        } catch (err) {
          const name = (err as { name?: string }).name;
          if (name === 'GoneException') {
            stats.gone++;
            await db!.send(new DeleteCommand({ TableName: table, Key: { pk, connectionId } })).catch(() => {});
          } else if (name === 'LimitExceededException') stats.throttled++;
          else if (aborted) stats.aborted++;
          else stats.errors++;
        } finally {
          settle(-1);
        }
      }),
    );
    api.destroy();
    for (const c of mine) controllers.delete(c);
  }

  return {
    async invoke(event) {
      for (const record of event.Records) {
        const image = record.dynamodb?.NewImage;
        // The sample fans out the reporter's messages: entry changes. livecast's stats and spike
        // lines (its own live counts) are not part of it.
        if (record.eventName !== 'INSERT' || !image || !image.entry) continue;
        const p = invocation(image).catch(() => {
          stats.errors++;
        });
        running.add(p);
        void p.finally(() => {
          running.delete(p);
          if (running.size === 0) for (const w of [...idleWaiters]) w();
        });
      }
    },
    stats: () => ({ ...stats }),
    idle(deadline) {
      if (running.size === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve(true);
        };
        const timer = setTimeout(
          () => {
            idleWaiters.delete(done);
            resolve(running.size === 0);
          },
          Math.max(0, deadline - performance.now()),
        );
        idleWaiters.add(done);
      });
    },
    async abort() {
      aborted = true;
      for (const c of controllers) c.abort();
      for (const w of admitWaiters.splice(0)) w(false);
      await Promise.allSettled([...running]);
      db?.destroy();
      db = undefined;
    },
  };
}
