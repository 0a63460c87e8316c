// The rate limits' counters on DynamoDB Local, through the adapter the functions use.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTables } from '../../local/create-tables';
import { DynamoRateLimitStore } from '../../shared/adapters/dynamo-rate-limit-store';
import { RateLimiter } from '../../shared/domain/limits/rate-limiter';

let client: DynamoDBClient;
let db: DynamoDBDocumentClient;
let table: string;

beforeAll(async () => {
  client = new DynamoDBClient({
    endpoint: inject('dynamoEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  db = DynamoDBDocumentClient.from(client);
  table = (await createTables(client, `r${randomBytes(4).toString('hex')}`)).limits;
}, 60_000);

afterAll(() => client?.destroy());

it('counts concurrent uses exactly, and marks each counter to expire after its window', async () => {
  const store = new DynamoRateLimitStore(db, table);
  const counts = await Promise.all(Array.from({ length: 25 }, () => store.hit('conn-1:sync#60000', 180_000)));
  expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  const { Item } = await db.send(new GetCommand({ TableName: table, Key: { pk: 'conn-1:sync#60000' } }));
  expect(Item).toEqual({ pk: 'conn-1:sync#60000', n: 25, expiresAt: 180 });
});

it('lets containers sharing the table allow no more than the limit between them', async () => {
  const now = () => 1_000_000;
  const limiters = [0, 1, 2].map(() => new RateLimiter(new DynamoRateLimitStore(db, table), { now }));
  const verdicts = await Promise.all(
    Array.from({ length: 30 }, (_, i) => limiters[i % 3]!.take('conn-2:repost', { limit: 7, windowMs: 10_000 })),
  );
  expect(verdicts.filter((v) => v.ok)).toHaveLength(7);
});
