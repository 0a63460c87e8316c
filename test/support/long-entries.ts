// Seeds an event with many long entries straight into the tables (publishes over the socket take
// minutes on the loaded test machine; what the callers test is the read paths): the event's
// counters moved by a conditional update, then entries and change-log lines in batches.
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Stage } from '../../local/stage';
import { changeItem, entryItem } from '../../shared/adapters/dynamo-entry-store';
import { DynamoEventStore } from '../../shared/adapters/dynamo-event-store';
import { newEntry } from '../../shared/domain/entry';
import type { EventRecord } from '../../shared/domain/ports';

/** 2,000 characters, 3 bytes each in UTF-8 (~6 KB), numbered so every entry differs. */
export const longChineseText = (i: number) =>
  `${String(i).padStart(4, '0')}${'鲇鱼节开幕式龙舟'.repeat(250)}`.slice(0, 2000);

/** Appends `n` entries after the event's last one; returns the seq of the first. */
export async function seedLongEntries(
  stage: Stage,
  db: DynamoDBDocumentClient,
  eventId: string,
  n: number,
  text = longChineseText,
): Promise<number> {
  const events = new DynamoEventStore(db, stage.tables.events);
  let from: EventRecord | undefined;
  while (!from) {
    const current = await events.get(eventId);
    if (!current) throw new Error('the event is gone');
    try {
      await db.send(
        new UpdateCommand({
          TableName: stage.tables.events,
          Key: { eventId },
          UpdateExpression: 'SET lastSeq = :seq, lastChange = :change',
          ConditionExpression: 'lastSeq = :wasSeq AND lastChange = :wasChange',
          ExpressionAttributeValues: {
            ':seq': current.lastSeq + n,
            ':change': current.lastChange + n,
            ':wasSeq': current.lastSeq,
            ':wasChange': current.lastChange,
          },
        }),
      );
      from = current;
    } catch (err) {
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    }
  }
  const start = from;
  const now = new Date();
  const puts = Array.from({ length: n }, (_, k) => {
    const entry = newEntry(start.lastSeq + k + 1, { kind: 'text', text: text(start.lastSeq + k + 1) }, now);
    return [
      { table: stage.tables.entries, Item: entryItem(eventId, entry, `seed-${entry.seq}`) },
      { table: stage.tables.changes, Item: changeItem(eventId, start.lastChange + k + 1, entry, 'publish') },
    ];
  }).flat();
  const batches = Array.from({ length: Math.ceil(puts.length / 25) }, (_, b) => puts.slice(b * 25, b * 25 + 25));
  const writeBatch = async (batch: typeof puts) => {
    let request: BatchWriteCommandInput['RequestItems'] = {};
    for (const { table, Item } of batch) (request[table] ??= []).push({ PutRequest: { Item } });
    while (request && Object.keys(request).length > 0)
      request = (await db.send(new BatchWriteCommand({ RequestItems: request }))).UnprocessedItems;
  };
  for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map(writeBatch));
  return start.lastSeq + 1;
}
