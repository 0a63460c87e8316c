// The local SQS stand-in through the real SQSClient: the calls the failure queues and the redrive use.
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type SqsService, startSqsService } from '../../local/sqs';

const services: SqsService[] = [];
const clients: SQSClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(services.splice(0).map((s) => s.close()));
});

async function sqs() {
  const service = await startSqsService({ port: 0, log: () => {} });
  services.push(service);
  const client = new SQSClient({
    endpoint: service.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  clients.push(client);
  return { service, client };
}

const count = async (client: SQSClient, QueueUrl: string) => {
  const out = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages),
    hidden: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
};

describe('local SQS', () => {
  it('creates and looks up queues; an unknown queue is QueueDoesNotExist', async () => {
    const { client, service } = await sqs();
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'StreamFailures' }));
    expect(QueueUrl).toBe(`${service.endpoint}/000000000000/StreamFailures`);
    expect(service.createQueue('StreamFailures')).toBe(QueueUrl);
    expect((await client.send(new GetQueueUrlCommand({ QueueName: 'StreamFailures' }))).QueueUrl).toBe(QueueUrl);
    const err = await client.send(new GetQueueUrlCommand({ QueueName: 'Nope' })).catch((e: unknown) => e as Error);
    expect((err as Error).name).toBe('QueueDoesNotExist');
  });

  it('sends, receives (the SDK checks the MD5s), hides for the visibility timeout, and deletes', async () => {
    const { client, service } = await sqs();
    const QueueUrl = service.createQueue('q');
    const sent = await client.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"a":"é"}' }));
    expect(sent.MessageId).toBeTruthy();
    expect(await count(client, QueueUrl)).toEqual({ visible: 1, hidden: 0 });

    const first = await client.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    expect(first.Messages?.map((m) => m.Body)).toEqual(['{"a":"é"}']);
    expect(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await count(client, QueueUrl)).toEqual({ visible: 0, hidden: 1 });
    // Hidden: a second receive gets nothing.
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl }))).Messages ?? []).toEqual([]);

    // Made visible again, it comes back with a new handle; the old handle no longer deletes it.
    const handle = first.Messages![0]!.ReceiptHandle!;
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: handle, VisibilityTimeout: 0 }));
    const second = await client.send(new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ['All'] }));
    expect(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
    await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: handle }));
    expect(await count(client, QueueUrl)).toEqual({ visible: 0, hidden: 1 });
    await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: second.Messages![0]!.ReceiptHandle! }));
    expect(await count(client, QueueUrl)).toEqual({ visible: 0, hidden: 0 });
  });

  it('a message whose visibility timeout runs out is received again', async () => {
    const { client, service } = await sqs();
    const QueueUrl = service.createQueue('q');
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }));
    await client.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 1 }));
    // A long poll that starts while the message is hidden gets it when it reappears.
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 10 }));
    expect(again.Messages?.map((m) => m.Body)).toEqual(['x']);
  });

  it('a long poll ends with the first message sent during it', async () => {
    const { client, service } = await sqs();
    const QueueUrl = service.createQueue('q');
    const polling = client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }));
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'late' }));
    expect((await polling).Messages?.map((m) => m.Body)).toEqual(['late']);
  });

  it('refuses bad input with SQS error names and changes nothing', async () => {
    const { client, service } = await sqs();
    const QueueUrl = service.createQueue('q');
    const name = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: Error) => e.name,
      );
    expect(await name(client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 11 })))).toBe(
      'InvalidParameterValue',
    );
    expect(
      await name(
        client.send(new SendMessageCommand({ QueueUrl: `${service.endpoint}/000000000000/missing`, MessageBody: 'x' })),
      ),
    ).toBe('QueueDoesNotExist');
    expect(await name(client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: 'garbage' })))).toBe(
      'ReceiptHandleIsInvalid',
    );
    expect(await name(client.send(new CreateQueueCommand({ QueueName: 'bad name!' })))).toBe('InvalidParameterValue');
    expect(await count(client, QueueUrl)).toEqual({ visible: 0, hidden: 0 });
  });
});
