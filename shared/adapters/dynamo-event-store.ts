// EventStore on DynamoDB: one item per event.
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { EventRecord, EventStore } from '../domain/ports';

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
}

export function toEventRecord(Item: Record<string, any>): EventRecord {
  return {
    eventId: Item.eventId,
    title: Item.title,
    ...(Item.startsAt ? { startsAt: Item.startsAt } : {}),
    createdAt: Item.createdAt,
    lastSeq: Number(Item.lastSeq ?? 0),
    lastChange: Number(Item.lastChange ?? 0),
    viewers: Number(Item.viewers ?? 0),
    tokenHash: Item.tokenHash,
  };
}
