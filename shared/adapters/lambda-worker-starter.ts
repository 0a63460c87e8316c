// WorkerStarter on Lambda: an asynchronous invocation of the delivery worker function per shard.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { WorkerStarter } from '../domain/ports';

export interface WorkerPayload {
  eventId: string;
  shard: number;
}

export class LambdaWorkerStarter implements WorkerStarter {
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async start(eventId: string, shard: number): Promise<void> {
    const payload: WorkerPayload = { eventId, shard };
    await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: this.encoder.encode(JSON.stringify(payload)),
      }),
    );
  }
}
