// RateLimitStore on DynamoDB: one item per (key, window), counted with an atomic ADD; TTL removes it.
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RateLimitStore } from '../domain/ports';

export class DynamoRateLimitStore implements RateLimitStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async hit(key: string, expiresAtMs: number, by = 1): Promise<number> {
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: key },
        UpdateExpression: 'ADD #n :one SET expiresAt = if_not_exists(expiresAt, :exp)',
        ExpressionAttributeNames: { '#n': 'n' },
        // TTL is in seconds; DynamoDB removes the item within a few days of it (reads never depend on that: the key names its window).
        ExpressionAttributeValues: { ':one': by, ':exp': Math.ceil(expiresAtMs / 1000) },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.n ?? by);
  }
}
