// EventStore on DynamoDB: one item per event.
import { ConditionalCheckFailedException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { attempts } from '../retry';
import type { EventPosition, EventRecord, EventStore, ListedEvent } from '../domain/ports';
import { EVENTS_BY_CREATED, LISTED_EVENTS } from '../tables';
import { queryUpTo, scanPages } from './dynamo-paging';

/** Attempts at a rotation that met a transaction in flight on the event's item (a publish). */
const CONFLICT_ATTEMPTS = 6;
/** BatchGetItem calls before keys still unprocessed are an error. */
const BATCH_GET_ROUNDS = 10;

export class DynamoEventStore implements EventStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async create(event: EventRecord): Promise<void> {
    // `listed`: the item's place in the organiser's list (the byCreated index, shared/tables.ts).
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...event, listed: LISTED_EVENTS },
        ConditionExpression: 'attribute_not_exists(eventId)',
      }),
    );
  }

  async listNewest(after: EventPosition | undefined, limit: number): Promise<ListedEvent[]> {
    const { name, partitionKey, sortKey } = EVENTS_BY_CREATED;
    const rows = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: name,
        KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': partitionKey.name },
        ExpressionAttributeValues: { ':p': LISTED_EVENTS },
        ScanIndexForward: false,
      },
      limit,
      // An index's position is its own key and the table's: all three, as LastEvaluatedKey gives them.
      after
        ? { [partitionKey.name]: LISTED_EVENTS, [sortKey.name]: after.createdAt, eventId: after.eventId }
        : undefined,
    );
    // lastSeq changes with every publish, so the index does not hold it (shared/tables.ts): read it
    // here, and startsAt with it (set once at create, so it could have been projected: one read is enough).
    const details = await this.listDetails(rows.map((r) => String(r.eventId)));
    return rows.map((r) => {
      const more = details.get(String(r.eventId));
      return {
        eventId: String(r.eventId),
        title: String(r.title),
        createdAt: String(r.createdAt),
        ...(more?.startsAt ? { startsAt: more.startsAt } : {}),
        lastSeq: more?.lastSeq ?? 0,
      };
    });
  }

  /** Each event's lastSeq and startsAt: BatchGetItem (100 keys a call), unprocessed keys asked again with backoff. */
  private async listDetails(eventIds: readonly string[]): Promise<Map<string, { lastSeq: number; startsAt?: string }>> {
    const found = new Map<string, { lastSeq: number; startsAt?: string }>();
    let keys = eventIds.map((eventId) => ({ eventId }));
    if (keys.length === 0) return found;
    for await (const _round of attempts({ tries: BATCH_GET_ROUNDS, baseMs: 20, capMs: 1_000 })) {
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({
          RequestItems: {
            [this.table]: { Keys: keys.slice(0, 100), ProjectionExpression: 'eventId, lastSeq, startsAt' },
          },
        }),
      );
      for (const item of Responses?.[this.table] ?? []) {
        found.set(String(item.eventId), {
          lastSeq: Number(item.lastSeq ?? 0),
          ...(typeof item.startsAt === 'string' ? { startsAt: item.startsAt } : {}),
        });
      }
      keys = [...keys.slice(100), ...((UnprocessedKeys?.[this.table]?.Keys ?? []) as { eventId: string }[])];
      if (keys.length === 0) break;
    }
    if (keys.length > 0)
      throw new Error(`${keys.length} events still unread after ${BATCH_GET_ROUNDS} BatchGetItem rounds`);
    return found;
  }

  async get(eventId: string): Promise<EventRecord | undefined> {
    // Consistent: publish reads lastSeq here before its conditional write.
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { eventId }, ConsistentRead: true }),
    );
    return Item ? toEventRecord(Item) : undefined;
  }

  /**
   * One UpdateItem: the new hash and the generation +1 together, so no write conditioned on the old
   * generation can commit after it. ADD rather than a read and a condition: an SDK retry of a lost
   * answer moves the generation twice but stores the same hash, and the token handed out still works.
   */
  async rotateToken(eventId: string, tokenHash: string): Promise<number | undefined> {
    let conflict: unknown;
    for await (const _attempt of attempts({ tries: CONFLICT_ATTEMPTS, baseMs: 20, capMs: 500 })) {
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
        if (!(err instanceof TransactionConflictException)) throw err;
        conflict = err;
      }
    }
    throw conflict;
  }
}

export function toEventRecord(Item: Record<string, unknown>): EventRecord {
  const startsAt = Item.startsAt as string | undefined;
  return {
    eventId: Item.eventId as string,
    title: Item.title as string,
    ...(startsAt ? { startsAt } : {}),
    createdAt: Item.createdAt as string,
    lastSeq: Number(Item.lastSeq ?? 0),
    lastChange: Number(Item.lastChange ?? 0),
    tokenHash: Item.tokenHash as string,
    tokenGen: Number(Item.tokenGen ?? 0),
  };
}

/**
 * Gives every event item written before the organiser's list existed its `listed` key, so the
 * byCreated index holds it. A Scan, so a tool's job (the local stage on an old .data/ table,
 * `npm run backfill-events` once after the deploy that adds the index), never a request's. Safe to
 * repeat; returns how many items it changed.
 */
export async function backfillListed(db: DynamoDBDocumentClient, table: string): Promise<number> {
  let changed = 0;
  for await (const page of scanPages(db, {
    TableName: table,
    FilterExpression: 'attribute_not_exists(listed)',
    ProjectionExpression: 'eventId',
  })) {
    for (const { eventId } of page) {
      try {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { eventId },
            UpdateExpression: 'SET listed = :l',
            ConditionExpression: 'attribute_exists(eventId) AND attribute_not_exists(listed)',
            ExpressionAttributeValues: { ':l': LISTED_EVENTS },
          }),
        );
        changed++;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    }
  }
  return changed;
}
