// EntryStore on DynamoDB: entries keyed by (eventId, seq); each write is one transaction with the
// event's lastSeq (publish) or the entry's rev (changes) as its condition and the request record.
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { attempts } from '../retry';
import type {
  AppendResult,
  ChangeLog,
  CommitResult,
  EntryStore,
  EventRecord,
  LogLine,
  RedactionResult,
  RequestRecord,
  WriteAction,
} from '../domain/ports';
import type { Entry, EntryImage, LiveFrame } from '../domain/protocol';
import { toEventRecord } from './dynamo-event-store';
import { queryPages, queryUpTo } from './dynamo-paging';

export interface EntryTables {
  events: string;
  entries: string;
  changes: string;
  requests: string;
}

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

/** Change-log lines scrubbed at once by a redaction. */
const SCRUB_IN_FLIGHT = 8;
/** BatchGetItem calls before keys still unprocessed are an error. */
const BATCH_GET_ROUNDS = 10;

export class DynamoEntryStore implements EntryStore, ChangeLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: EntryTables,
  ) {}

  async get(eventId: string, seq: number): Promise<Entry | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tables.entries, Key: { eventId, seq }, ConsistentRead: true }),
    );
    return Item ? toEntry(Item) : undefined;
  }

  async getRequest(eventId: string, clientId: string): Promise<RequestRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tables.requests, Key: { eventId, clientId }, ConsistentRead: true }),
    );
    return Item
      ? { clientId, action: Item.action as WriteAction, seq: Number(Item.seq), rev: Number(Item.rev) }
      : undefined;
  }

  commitPublish(
    eventId: string,
    expected: { lastSeq: number; lastChange: number; tokenGen?: number },
    entry: Entry,
    request: RequestRecord,
  ): Promise<CommitResult> {
    return this.commit(eventId, expected, entry, request, {
      Put: {
        TableName: this.tables.entries,
        Item: entryItem(eventId, entry, request.clientId),
        ConditionExpression: 'attribute_not_exists(seq)',
      },
    });
  }

  commitChange(
    eventId: string,
    expected: { lastChange: number; rev: number; tokenGen?: number },
    entry: Entry,
    request: RequestRecord,
  ): Promise<CommitResult> {
    return this.commit(eventId, expected, entry, request, this.entryUpdate(eventId, entry, expected.rev));
  }

  async commitRedaction(
    eventId: string,
    expected: { lastChange: number; rev: number },
    entry: Entry,
  ): Promise<RedactionResult> {
    const result = await this.commit(
      eventId,
      expected,
      entry,
      undefined,
      this.entryUpdate(eventId, entry, expected.rev, { redacted: true }),
    );
    // Without a request record nothing can be a duplicate: any refusal is a race lost.
    return result.ok ? result : { ok: false, reason: 'stale' };
  }

  async newestShown(eventId: string, limit: number): Promise<Entry[]> {
    // The filter runs after each page is read: deleted entries cost read capacity but are not
    // returned, and queryUpTo asks on (page after page) until `limit` entries are shown.
    const items = await queryUpTo(
      this.db,
      {
        TableName: this.tables.entries,
        KeyConditionExpression: 'eventId = :e',
        FilterExpression: 'attribute_not_exists(deleted) OR deleted = :no',
        ExpressionAttributeValues: { ':e': eventId, ':no': false },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      limit,
    );
    return items.map(toEntry);
  }

  async getMany(eventId: string, seqs: readonly number[]): Promise<Map<number, Entry>> {
    const found = new Map<number, Entry>();
    let keys: Record<string, unknown>[] = [...new Set(seqs)].map((seq) => ({ eventId, seq }));
    // BatchGetItem takes 100 keys and may leave some unprocessed (throttling, or its 16 MB answer
    // limit); those are asked again, with backoff. A state never read is an error, not a guess: the
    // caller decides from it what anonymous readers may see.
    if (keys.length === 0) return found;
    for await (const _round of attempts({ tries: BATCH_GET_ROUNDS, baseMs: 20, capMs: 1_000 })) {
      const batch = keys.slice(0, 100);
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.tables.entries]: { Keys: batch, ConsistentRead: true } } }),
      );
      for (const item of Responses?.[this.tables.entries] ?? []) found.set(Number(item.seq), toEntry(item));
      keys = [...keys.slice(100), ...(UnprocessedKeys?.[this.tables.entries]?.Keys ?? [])];
      if (keys.length === 0) break;
    }
    if (keys.length > 0)
      throw new Error(
        `event ${eventId}: ${keys.length} entries still unread after ${BATCH_GET_ROUNDS} BatchGetItem rounds`,
      );
    return found;
  }

  async scrubRevisions(eventId: string, seq: number): Promise<number> {
    let changed = 0;
    // The publish of seq N is change N at the earliest (every seq before it took a change number
    // first), so the read starts there rather than at the beginning of the log. No index by seq:
    // this reads the rest of the event's log once, an organiser's rare call (a few MB per thousand
    // 2,000-character revisions), never a viewer's path.
    const pages = queryPages(this.db, {
      TableName: this.tables.changes,
      KeyConditionExpression: 'eventId = :e AND changeNo >= :first',
      FilterExpression:
        'seq = :seq AND (#entry.#text <> :empty OR attribute_not_exists(#entry.redacted) OR size(#entry.images) > :zero)',
      ProjectionExpression: 'changeNo',
      ExpressionAttributeNames: { '#entry': 'entry', '#text': 'text' },
      ExpressionAttributeValues: { ':e': eventId, ':first': seq, ':seq': seq, ':empty': '', ':zero': 0 },
      ConsistentRead: true,
    });
    for await (const items of pages) {
      // A few at a time: a long-edited entry has hundreds of lines, one UpdateItem each.
      for (let i = 0; i < items.length; i += SCRUB_IN_FLIGHT) {
        await Promise.all(
          items.slice(i, i + SCRUB_IN_FLIGHT).map((item) => this.scrubLine(eventId, seq, Number(item.changeNo))),
        );
      }
      changed += items.length;
    }
    return changed;
  }

  /** Blanks the text and photos of one line in place; conditional on it being that entry's line, so nothing is ever created. */
  private async scrubLine(eventId: string, seq: number, changeNo: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tables.changes,
        Key: { eventId, changeNo },
        UpdateExpression: 'SET #entry.#text = :empty, #entry.redacted = :redacted, #entry.images = :none',
        ConditionExpression: 'seq = :seq',
        ExpressionAttributeNames: { '#entry': 'entry', '#text': 'text' },
        ExpressionAttributeValues: { ':empty': '', ':redacted': true, ':seq': seq, ':none': [] },
      }),
    );
  }

  async changesAfter(eventId: string, changeNo: number, limit: number): Promise<LogLine[]> {
    const items = await queryUpTo(
      this.db,
      {
        TableName: this.tables.changes,
        KeyConditionExpression: 'eventId = :e AND changeNo > :after',
        ExpressionAttributeValues: { ':e': eventId, ':after': changeNo },
        ConsistentRead: true,
      },
      limit,
    );
    return items.map((item): LogLine =>
      item.frame
        ? { changeNo: Number(item.changeNo), frame: item.frame as LiveFrame }
        : { changeNo: Number(item.changeNo), entry: toEntry(item.entry as Record<string, unknown>) },
    );
  }

  async appendFrame(
    eventId: string,
    build: (event: EventRecord) => LiveFrame,
    options: { minIntervalMs?: number; now?: number } = {},
  ): Promise<AppendResult> {
    const now = options.now ?? Date.now();
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tables.events, Key: { eventId }, ConsistentRead: true }),
    );
    if (!Item) throw new Error(`event ${eventId} does not exist`);
    const event = toEventRecord(Item);
    const last = Number(Item.framedAt ?? 0);
    const throttled = options.minIntervalMs !== undefined;
    if (throttled && now - last < options.minIntervalMs!)
      return { appended: false, reason: 'throttled', retryInMs: last + options.minIntervalMs! - now };
    const frame = build(event);
    const changeNo = event.lastChange + 1;
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tables.events,
                Key: { eventId },
                UpdateExpression: throttled ? 'SET lastChange = :change, framedAt = :now' : 'SET lastChange = :change',
                ConditionExpression: 'lastChange = :expected',
                ExpressionAttributeValues: {
                  ':change': changeNo,
                  ':expected': event.lastChange,
                  ...(throttled ? { ':now': now } : {}),
                },
              },
            },
            {
              Put: {
                TableName: this.tables.changes,
                Item: { eventId, changeNo, action: frame.type, frame },
                ConditionExpression: 'attribute_not_exists(changeNo)',
              },
            },
          ],
        }),
      );
      return { appended: true, changeNo };
    } catch (err) {
      if ((err as Error).name === 'TransactionCanceledException') return { appended: false, reason: 'stale' };
      throw err;
    }
  }

  async list(eventId: string, after: number, limit: number): Promise<Entry[]> {
    const items = await queryUpTo(
      this.db,
      {
        TableName: this.tables.entries,
        KeyConditionExpression: 'eventId = :e AND seq > :after',
        ExpressionAttributeValues: { ':e': eventId, ':after': after },
        ConsistentRead: true,
      },
      limit,
    );
    return items.map(toEntry);
  }

  /**
   * One transaction: the event's counters move on (conditional on what was read), the entry is
   * written, the change is logged under the next change number, the request is recorded. A
   * cancelled one says which condition failed.
   */
  /**
   * The entry's new state as an update, not a put (counters that other writers keep on the item —
   * reposts — stay untouched), conditional on the rev this change was made from.
   */
  private entryUpdate(eventId: string, entry: Entry, expectedRev: number, extra: Record<string, unknown> = {}) {
    const set = {
      text: entry.text,
      images: entry.images,
      rev: entry.rev,
      pinned: entry.pinned,
      deleted: entry.deleted,
      ...extra,
      updatedAt: entry.updatedAt,
    };
    const names = Object.keys(set);
    return {
      Update: {
        TableName: this.tables.entries,
        Key: { eventId, seq: entry.seq },
        UpdateExpression: `SET ${names.map((n) => `#${n} = :${n}`).join(', ')}`,
        ConditionExpression: '#rev = :expected',
        ExpressionAttributeNames: Object.fromEntries(names.map((n) => [`#${n}`, n])),
        ExpressionAttributeValues: {
          ...Object.fromEntries(names.map((n) => [`:${n}`, set[n as keyof typeof set]])),
          ':expected': expectedRev,
        },
      },
    };
  }

  private async commit(
    eventId: string,
    expected: { lastChange: number; lastSeq?: number; tokenGen?: number },
    entry: Entry,
    /** The reporter's request record; none for the organiser's redaction. */
    request: RequestRecord | undefined,
    write: TransactItems[number],
  ): Promise<CommitResult> {
    const changeNo = expected.lastChange + 1;
    const publishing = expected.lastSeq !== undefined;
    const conditions = publishing
      ? ['lastChange = :expectedChange', 'lastSeq = :expectedSeq']
      : ['lastChange = :expectedChange'];
    // The reporter's token generation, checked on the item the write moves anyway: a rotation
    // revokes old connections at no extra read. Generation 0 is also an event made before rotation
    // existed (no attribute).
    if (expected.tokenGen !== undefined) {
      conditions.push(
        expected.tokenGen === 0 ? '(attribute_not_exists(tokenGen) OR tokenGen = :tokenGen)' : 'tokenGen = :tokenGen',
      );
    }
    const items: TransactItems = [
      {
        Update: {
          TableName: this.tables.events,
          Key: { eventId },
          UpdateExpression: publishing ? 'SET lastChange = :change, lastSeq = :seq' : 'SET lastChange = :change',
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeValues: {
            ':change': changeNo,
            ':expectedChange': expected.lastChange,
            ...(publishing ? { ':seq': entry.seq, ':expectedSeq': expected.lastSeq } : {}),
            ...(expected.tokenGen !== undefined ? { ':tokenGen': expected.tokenGen } : {}),
          },
        },
      },
      write,
      {
        Put: {
          TableName: this.tables.changes,
          Item: changeItem(eventId, changeNo, entry, request?.action ?? 'redact'),
          ConditionExpression: 'attribute_not_exists(changeNo)',
        },
      },
      ...(request
        ? [
            {
              Put: {
                TableName: this.tables.requests,
                Item: { eventId, ...request },
                ConditionExpression: 'attribute_not_exists(clientId)',
              },
            },
          ]
        : []),
    ];
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
      return { ok: true };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const reasons = err.CancellationReasons ?? [];
      if (request && reasons[items.length - 1]?.Code === 'ConditionalCheckFailed') {
        const previous = await this.getRequest(eventId, request.clientId);
        if (previous) return { ok: false, reason: 'duplicate', previous };
      }
      const retryable = reasons.some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
      if (retryable) return { ok: false, reason: 'stale' };
      throw err;
    }
  }
}

/** An entry as the Entries table holds it (also what tests seed it with). */
export const entryItem = (eventId: string, entry: Entry, clientId: string) => ({ eventId, ...entry, clientId });

/** A change-log line for an entry's revision, as the Changes table holds it. */
export const changeItem = (eventId: string, changeNo: number, entry: Entry, action: WriteAction | 'redact') => ({
  eventId,
  changeNo,
  seq: entry.seq,
  rev: entry.rev,
  action,
  entry,
});

function toEntry(item: Record<string, unknown>): Entry {
  return {
    seq: Number(item.seq),
    rev: Number(item.rev),
    kind: item.kind === 'key' ? 'key' : 'text',
    text: typeof item.text === 'string' ? item.text : '',
    pinned: item.pinned === true,
    deleted: item.deleted === true,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    reposts: Number(item.reposts ?? 0),
    ...(item.redacted === true ? { redacted: true as const } : {}),
    // Entries stored before photos existed have none.
    images: Array.isArray(item.images) ? (item.images as Record<string, unknown>[]).map(toImage) : [],
  };
}

function toImage(item: Record<string, unknown>): EntryImage {
  return {
    url: String(item.url),
    width: Number(item.width),
    height: Number(item.height),
    ...(typeof item.alt === 'string' ? { alt: item.alt } : {}),
  };
}
