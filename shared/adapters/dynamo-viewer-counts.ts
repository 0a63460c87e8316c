// ViewerCounts on DynamoDB: in the RepostCounts table (the event's partition of exact counters,
// which no publish writes), one item per connection partition, `viewers#<eventId>#<shard>`, holding
// the count `n` and the watermark `mark`. A batch is one conditional UpdateItem per partition it
// touches — no transaction, nothing shared between partitions — so viewer-stats never contends
// with a publish, and two retries of one batch can never both count it.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ViewerCounts } from '../domain/ports';
import { counterSteps, type CounterStep, type PresenceChange, shownViewers } from '../domain/viewer-count';
import { queryItems } from './dynamo-paging';

const PREFIX = 'viewers#';
/** A counter's sort key: its connection partition, so one Query reads an event's counters. */
const counterKey = (partition: string) => `${PREFIX}${partition}`;

/** Rounds in which another writer moved a watermark first, before the batch is given back to be retried. */
const MAX_ROUNDS = 5;

export class DynamoViewerCounts implements ViewerCounts {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    /** The RepostCounts table: the event's exact counters. */
    private readonly table: string,
  ) {}

  async apply(eventId: string, changes: readonly PresenceChange[]): Promise<number> {
    const applied = await Promise.all(
      [...new Set(changes.map((c) => c.partition))].map((partition) =>
        this.applyPartition(
          eventId,
          changes.filter((c) => c.partition === partition),
        ),
      ),
    );
    return applied.reduce((a, b) => a + b, 0);
  }

  async count(eventId: string): Promise<number> {
    let sum = 0;
    const items = queryItems(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'eventId = :e AND begins_with(k, :p)',
      ExpressionAttributeValues: { ':e': eventId, ':p': PREFIX },
      ProjectionExpression: 'n',
      ConsistentRead: true,
    });
    for await (const item of items) sum += Number(item.n ?? 0);
    return shownViewers(sum);
  }

  /**
   * Optimistic first: the write assumes the watermark is below the batch's first record (the usual
   * case), and a refusal hands back the watermark it found — a retried batch, part counted — so the
   * next round counts only what lies beyond it.
   */
  private async applyPartition(eventId: string, changes: readonly PresenceChange[]): Promise<number> {
    const marks = new Map<string, string>();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const [step] = counterSteps(changes, marks);
      if (!step) return 0;
      const found = await this.write(eventId, step);
      if (found === undefined) return step.records;
      marks.set(step.partition, found);
    }
    throw new Error(`viewer count of ${eventId} kept meeting moved watermarks; the batch will be retried`);
  }

  /** Undefined when the step was counted; else the watermark that refused it. */
  private async write(eventId: string, step: CounterStep): Promise<string | undefined> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { eventId, k: counterKey(step.partition) },
          UpdateExpression: 'SET mark = :last ADD n :delta',
          ConditionExpression: 'attribute_not_exists(mark) OR mark < :first',
          ExpressionAttributeValues: { ':last': step.last, ':delta': step.delta, ':first': step.first },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return undefined;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const mark = err.Item?.mark?.S;
      if (mark === undefined)
        throw new Error(`viewer counter ${step.partition} refused a step without a watermark`, { cause: err });
      return mark;
    }
  }
}
