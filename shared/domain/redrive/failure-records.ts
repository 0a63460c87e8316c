// The records Lambda writes to an on-failure destination, in AWS's documented shapes: one for a
// stream batch whose retries or record age ran out (its place in the stream, not its records), one
// for an asynchronous invocation that failed its retries (its payload). The local stage writes the
// same, so the redrive reads both alike.
import * as z from 'zod';

const requestContext = z.object({
  requestId: z.string(),
  functionArn: z.string().min(1),
  condition: z.string(),
  approximateInvokeCount: z.number().int().min(0),
});

const responseContext = z.object({
  statusCode: z.number().int(),
  executedVersion: z.string().optional(),
  functionError: z.string().optional(),
});

/** Sequence numbers are decimal strings (21 digits on DynamoDB); compared as BigInt. */
const sequenceNumber = z.string().regex(/^\d{1,40}$/, 'a decimal sequence number');

export const streamBatchInfoSchema = z.object({
  shardId: z.string().min(1),
  startSequenceNumber: sequenceNumber,
  endSequenceNumber: sequenceNumber,
  approximateArrivalOfFirstRecord: z.string().optional(),
  approximateArrivalOfLastRecord: z.string().optional(),
  batchSize: z.number().int().min(1),
  streamArn: z.string().min(1),
});

export const streamFailureRecordSchema = z.object({
  requestContext,
  responseContext: responseContext.optional(),
  version: z.string(),
  timestamp: z.string(),
  DDBStreamBatchInfo: streamBatchInfoSchema,
});

export const asyncFailureRecordSchema = z.object({
  version: z.string(),
  timestamp: z.string(),
  requestContext,
  requestPayload: z.unknown(),
  responseContext: responseContext.optional(),
  responsePayload: z.unknown().optional(),
});

export type StreamBatchInfo = z.infer<typeof streamBatchInfoSchema>;
export type StreamFailureRecord = z.infer<typeof streamFailureRecordSchema>;
export type AsyncFailureRecord = z.infer<typeof asyncFailureRecordSchema>;

/** Why a stream batch was given up: `maximumRetryAttempts` spent, or `maximumRecordAgeInSeconds` passed. */
export type StreamFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

export type FailureRecord =
  { kind: 'stream'; record: StreamFailureRecord } | { kind: 'async'; record: AsyncFailureRecord };

/** Reads a destination message body; anything else is a clear error, never a guess. */
export function parseFailureRecord(body: string): FailureRecord {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error('the message is not JSON');
  }
  if (json !== null && typeof json === 'object' && 'DDBStreamBatchInfo' in json) {
    const parsed = streamFailureRecordSchema.safeParse(json);
    if (!parsed.success)
      throw new Error(`not a stream failure record: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`);
    if (
      BigInt(parsed.data.DDBStreamBatchInfo.startSequenceNumber) >
      BigInt(parsed.data.DDBStreamBatchInfo.endSequenceNumber)
    ) {
      throw new Error('not a stream failure record: startSequenceNumber is after endSequenceNumber');
    }
    return { kind: 'stream', record: parsed.data };
  }
  if (json !== null && typeof json === 'object' && 'requestPayload' in json) {
    const parsed = asyncFailureRecordSchema.safeParse(json);
    if (!parsed.success)
      throw new Error(`not an async failure record: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`);
    return { kind: 'async', record: parsed.data };
  }
  throw new Error('neither a stream failure record (DDBStreamBatchInfo) nor an async failure record (requestPayload)');
}
