// EventStore on DynamoDB: one item per event.
import { ConditionalCheckFailedException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { backoffMs } from '../domain/delivery/pacer';
import type { EventRecord, EventStore } from '../domain/ports';

/** Attempts at a rotation that met a transaction in flight on the event's item (a publish). */
const CONFLICT_ATTEMPTS = 6;

export class DynamoEventStore implements EventStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async create(event: EventRecord): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: event, ConditionExpression: 'attribute_not_exists(eventId)' }),
    );
  }

  async get(eventId: string): Promise<EventRecord | undefined> {
    // Consistent: publish reads lastSeq here before its conditional write.
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: { eventId }, ConsistentRead: true }));
    return Item ? toEventRecord(Item) : undefined;
  }

  /**
   * One UpdateItem: the new hash and the generation +1 together, so no write conditioned on the old
   * generation can commit after it. ADD rather than a read and a condition: an SDK retry of a lost
   * answer moves the generation twice but stores the same hash, and the token handed out still works.
   */
  async rotateToken(eventId: string, tokenHash: string): Promise<number | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { Attributes } = await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { eventId },
            UpdateExpression: 'SET tokenHash = :hash ADD tokenGen :one',
            ConditionExpression: 'attribute_exists(eventId)',
            ExpressionAttributeValues: { ':hash': tokenHash, ':one': 1 },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        return Number(Attributes?.tokenGen);
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return undefined;
        // On AWS a plain write to an item that a transaction (a publish) is writing is refused with
        // TransactionConflict: wait a moment and write again.
        if (!(err instanceof TransactionConflictException) || attempt >= CONFLICT_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, backoffMs(attempt, Math.random, 20, 500)));
      }
    }
  }
}

export function toEventRecord(Item: Record<string, any>): EventRecord {
  return {
    eventId: Item.eventId,
    title: Item.title,
    ...(Item.startsAt ? { startsAt: Item.startsAt } : {}),
    createdAt: Item.createdAt,
    lastSeq: Number(Item.lastSeq ?? 0),
    lastChange: Number(Item.lastChange ?? 0),
    tokenHash: Item.tokenHash,
    tokenGen: Number(Item.tokenGen ?? 0),
  };
}
