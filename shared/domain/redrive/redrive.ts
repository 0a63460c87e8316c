// Replays what the failure queues hold: a stream batch is read again from its stream and handed to
// the trigger named in its record, as the event source mapping would have; a failed asynchronous
// invocation is invoked again with its payload. A message is deleted only once its replay
// succeeded, so a replay that fails again leaves it for the next run. Replays are safe to repeat:
// the triggers are idempotent (the tally's per-partition watermark skips records already counted).
import type { StreamBatchInfo } from './failure-records';
import { parseFailureRecord } from './failure-records';

/** One message of a failure queue; the adapter keeps whatever it needs to delete it. */
export interface QueuedMessage {
  readonly id: string;
  readonly body: string;
  /** When the queue got it (epoch ms; SQS's SentTimestamp). */
  readonly sentAt?: number;
}

export interface FailureQueue {
  /** Up to `max` messages, hidden from other readers while this run handles them. */
  receive(max: number): Promise<readonly QueuedMessage[]>;
  delete(message: QueuedMessage): Promise<void>;
  /** Makes a message visible again at once (not replayed, or its replay failed). */
  release(message: QueuedMessage): Promise<void>;
}

export interface StreamReader {
  /** The batch's records from startSequenceNumber through endSequenceNumber, in Lambda's event shape. */
  readBatch(info: StreamBatchInfo): Promise<readonly unknown[]>;
}

export interface InvokeResult {
  /** Lambda's FunctionError header (`Unhandled`) when the function failed. */
  readonly functionError?: string;
  readonly payload: unknown;
}

export interface FunctionInvoker {
  /** RequestResponse: runs the function and answers its result. */
  invoke(functionArn: string, event: unknown): Promise<InvokeResult>;
  /** Event: hands the payload to Lambda's async queue (with its retries and destination again). */
  invokeAsync(functionArn: string, payload: unknown): Promise<void>;
}

export type RedriveStatus = 'redriven' | 'would-redrive' | 'failed' | 'invalid';

export interface RedriveOutcome {
  readonly messageId: string;
  readonly status: RedriveStatus;
  /** What was (or would be) replayed: `stream batch of 3 → arn…` or `async → arn…`. */
  readonly what: string;
  readonly detail?: string;
}

export interface RedriveOptions {
  readonly dryRun?: boolean;
  /** Messages asked for per receive (SQS allows 1–10). */
  readonly pageSize?: number;
  /** Stop after this many messages; default all. */
  readonly limit?: number;
  /** The clock the run's start is read from; messages sent after it belong to the next run. */
  readonly now?: () => number;
}

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** A stream trigger that reports batchItemFailures failed those items, even without a FunctionError. */
function reportedFailures(payload: unknown): number {
  if (payload === null || typeof payload !== 'object') return 0;
  const failures = (payload as { batchItemFailures?: unknown }).batchItemFailures;
  return Array.isArray(failures) ? failures.length : 0;
}

function errorMessage(payload: unknown): string {
  if (payload !== null && typeof payload === 'object' && 'errorMessage' in payload) return String(payload.errorMessage);
  return JSON.stringify(payload);
}

async function replay(
  message: QueuedMessage,
  reader: StreamReader,
  invoker: FunctionInvoker,
  dryRun: boolean,
): Promise<RedriveOutcome> {
  let failure;
  try {
    failure = parseFailureRecord(message.body);
  } catch (err) {
    return { messageId: message.id, status: 'invalid', what: 'unreadable message', detail: (err as Error).message };
  }
  const target = failure.record.requestContext.functionArn;
  if (failure.kind === 'async') {
    const what = `async → ${target}`;
    if (dryRun) return { messageId: message.id, status: 'would-redrive', what };
    await invoker.invokeAsync(target, failure.record.requestPayload);
    return { messageId: message.id, status: 'redriven', what };
  }
  const info = failure.record.DDBStreamBatchInfo;
  const what = `stream batch of ${info.batchSize} (${info.shardId} ${info.startSequenceNumber}..${info.endSequenceNumber}) → ${target}`;
  const records = await reader.readBatch(info);
  if (dryRun)
    return {
      messageId: message.id,
      status: 'would-redrive',
      what,
      detail: `${records.length} record(s) still in the stream`,
    };
  const result = await invoker.invoke(target, { Records: records });
  if (result.functionError)
    return {
      messageId: message.id,
      status: 'failed',
      what,
      detail: `${result.functionError}: ${errorMessage(result.payload)}`,
    };
  const reported = reportedFailures(result.payload);
  if (reported > 0)
    return {
      messageId: message.id,
      status: 'failed',
      what,
      detail: `the function reported ${reported} failed record(s)`,
    };
  return { messageId: message.id, status: 'redriven', what, detail: `${records.length} record(s)` };
}

/**
 * Replays every message the queue held when the run started, until it gives none. Each message is
 * received once per run: the ones not deleted stay hidden until the run ends, then are released, so
 * a message that fails again is neither retried in a loop nor lost. A message sent during the run (a
 * replayed async invocation that failed again sends a new one) is left for the next run: otherwise
 * a function that keeps failing would be replayed for ever.
 */
export async function redriveQueue(
  queue: FailureQueue,
  reader: StreamReader,
  invoker: FunctionInvoker,
  opts: RedriveOptions = {},
): Promise<RedriveOutcome[]> {
  const outcomes: RedriveOutcome[] = [];
  const kept: QueuedMessage[] = [];
  const pageSize = opts.pageSize ?? 10;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  const startedAt = (opts.now ?? Date.now)();
  try {
    while (outcomes.length < limit) {
      const page = await queue.receive(Math.min(pageSize, limit - outcomes.length));
      if (page.length === 0) break;
      for (const message of page) {
        if (message.sentAt !== undefined && message.sentAt > startedAt) {
          kept.push(message);
          continue;
        }
        let outcome: RedriveOutcome;
        try {
          outcome = await replay(message, reader, invoker, opts.dryRun ?? false);
        } catch (err) {
          outcome = { messageId: message.id, status: 'failed', what: 'replay', detail: describe(err) };
        }
        outcomes.push(outcome);
        if (outcome.status === 'redriven') await queue.delete(message);
        else kept.push(message);
      }
    }
  } finally {
    for (const message of kept) await queue.release(message).catch(() => {});
  }
  return outcomes;
}
