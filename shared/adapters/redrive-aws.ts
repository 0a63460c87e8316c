// The redrive's ports on AWS's APIs (or the local stage's stand-ins, by endpoint): an SQS failure
// queue, a DynamoDB Streams reader, and the Lambda Invoke API.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { RedriveConfig } from '../config';
import type { StreamBatchInfo } from '../domain/redrive/failure-records';
import type {
  FailureQueue,
  FunctionInvoker,
  InvokeResult,
  QueuedMessage,
  StreamReader,
} from '../domain/redrive/redrive';
import { toLambdaRecord } from './stream-records';

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface RedriveClients {
  readonly sqs: SQSClient;
  readonly streams: DynamoDBStreamsClient;
  readonly lambda: LambdaClient;
  destroy(): void;
}

export function createRedriveClients(config: RedriveConfig): RedriveClients {
  const common = { region: config.region, ...(config.local ? { credentials: LOCAL_CREDENTIALS } : {}) };
  const sqs = new SQSClient({ ...common, ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}) });
  const streams = new DynamoDBStreamsClient({
    ...common,
    ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
  });
  const lambda = new LambdaClient({ ...common, ...(config.lambdaEndpoint ? { endpoint: config.lambdaEndpoint } : {}) });
  return {
    sqs,
    streams,
    lambda,
    destroy() {
      sqs.destroy();
      streams.destroy();
      lambda.destroy();
    },
  };
}

/**
 * An SQS queue as a FailureQueue. Messages stay hidden for `visibilitySeconds` while the run replays
 * them: long enough for a stream trigger's synchronous replay (the triggers' timeout is well under
 * the 15-minute default here).
 */
export class SqsFailureQueue implements FailureQueue {
  private readonly handles = new Map<string, string>();

  constructor(
    private readonly client: SQSClient,
    readonly queueUrl: string,
    private readonly visibilitySeconds = 900,
  ) {}

  async receive(max: number): Promise<readonly QueuedMessage[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: max,
        VisibilityTimeout: this.visibilitySeconds,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['SentTimestamp'],
      }),
    );
    const messages: QueuedMessage[] = [];
    for (const m of out.Messages ?? []) {
      if (!m.MessageId || !m.ReceiptHandle || m.Body === undefined) continue;
      this.handles.set(m.MessageId, m.ReceiptHandle);
      const sent = Number(m.Attributes?.SentTimestamp);
      messages.push({ id: m.MessageId, body: m.Body, ...(Number.isFinite(sent) ? { sentAt: sent } : {}) });
    }
    return messages;
  }

  async delete(message: QueuedMessage): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: this.handle(message) }));
    this.handles.delete(message.id);
  }

  async release(message: QueuedMessage): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: this.handle(message),
        VisibilityTimeout: 0,
      }),
    );
    this.handles.delete(message.id);
  }

  private handle(message: QueuedMessage): string {
    const handle = this.handles.get(message.id);
    if (!handle) throw new Error(`message ${message.id} was not received by this queue`);
    return handle;
  }
}

/** Empty GetRecords answers tolerated before the batch's last record: the Streams API may answer empty pages mid-shard. */
const maxEmptyPages = 20;

/** Reads a batch back from its shard: AT_SEQUENCE_NUMBER its first record, through its last. */
export class DynamoStreamReader implements StreamReader {
  constructor(private readonly client: DynamoDBStreamsClient) {}

  async readBatch(info: StreamBatchInfo): Promise<readonly unknown[]> {
    const end = BigInt(info.endSequenceNumber);
    let iterator: string | undefined;
    try {
      iterator = (
        await this.client.send(
          new GetShardIteratorCommand({
            StreamArn: info.streamArn,
            ShardId: info.shardId,
            ShardIteratorType: 'AT_SEQUENCE_NUMBER',
            SequenceNumber: info.startSequenceNumber,
          }),
        )
      ).ShardIterator;
    } catch (err) {
      // Records are kept 24 h: past that the batch cannot be replayed, and the message says so.
      if (
        err instanceof Error &&
        (err.name === 'TrimmedDataAccessException' || err.name === 'ResourceNotFoundException')
      ) {
        throw new Error(`the batch is no longer in the stream (${err.name}: ${err.message})`, { cause: err });
      }
      throw err;
    }
    const records: unknown[] = [];
    let empty = 0;
    let first = true;
    while (iterator) {
      const out = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const page = out.Records ?? [];
      for (const record of page) {
        const seq = record.dynamodb?.SequenceNumber;
        if (!seq) continue;
        if (first && seq !== info.startSequenceNumber) {
          throw new Error(
            `the batch's first record ${info.startSequenceNumber} is no longer in the stream (it starts at ${seq})`,
          );
        }
        first = false;
        if (BigInt(seq) > end) return records;
        records.push(toLambdaRecord(record, info.streamArn));
        if (BigInt(seq) === end) return records;
      }
      if (page.length === 0 && ++empty > maxEmptyPages) break;
      iterator = out.NextShardIterator;
    }
    if (records.length === 0)
      throw new Error(`the batch ${info.startSequenceNumber}..${info.endSequenceNumber} is no longer in the stream`);
    throw new Error(`read ${records.length} record(s) of the batch but not its last, ${info.endSequenceNumber}`);
  }
}

export class LambdaInvoker implements FunctionInvoker {
  constructor(private readonly client: LambdaClient) {}

  async invoke(functionArn: string, event: unknown): Promise<InvokeResult> {
    const out = await this.client.send(
      new InvokeCommand({
        FunctionName: functionArn,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
    const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    let payload: unknown = text;
    try {
      payload = text === '' ? null : JSON.parse(text);
    } catch {
      // Not JSON: kept as text for the report.
    }
    return { ...(out.FunctionError ? { functionError: out.FunctionError } : {}), payload };
  }

  async invokeAsync(functionArn: string, payload: unknown): Promise<void> {
    await this.client.send(
      new InvokeCommand({
        FunctionName: functionArn,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(payload)),
      }),
    );
  }
}
