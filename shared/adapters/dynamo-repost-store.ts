// Reposts on DynamoDB: a conditional put per (connection, seq), sharded like the connections; the
// tally adds them to per-event counters a batch at a time, marking each repost `counted` in the
// same transaction, so a retried batch can never count one twice.
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../config';
import type { Repost, RepostStore } from '../domain/ports';
import type { DetectorState, RepostSecond, Spike } from '../domain/reposts/spike-detector';
import { initialDetectorState } from '../domain/reposts/spike-detector';
import { shardOf } from '../domain/sharding';
import { CONNECTION_SHARDS } from '../tables';

type Tables = Pick<TableNames, 'reposts' | 'repostCounts'>;
type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** TransactWriteItems' limit. */
const MAX_ACTIONS = 100;
/** Rounds of "drop what was counted already, try the rest" before the batch is given back to be retried. */
const MAX_ROUNDS = 8;

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const seqKey = (seq: number) => `seq#${pad(seq, 10)}`;
const secondKey = (t: number, seq: number) => `sec#${pad(t, 13)}#${pad(seq, 10)}`;
const secondOf = (at: number) => Math.floor(at / 1000) * 1000;

export const repostKey = (r: Pick<Repost, 'eventId' | 'seq' | 'connectionId'>) => ({
  pk: `${r.eventId}#${shardOf(r.connectionId, CONNECTION_SHARDS)}`,
  sk: `${pad(r.seq, 10)}#${r.connectionId}`,
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class DynamoRepostStore implements RepostStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: Tables,
  ) {}

  async add(repost: Repost): Promise<'counted' | 'duplicate'> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tables.reposts,
          Item: { ...repostKey(repost), eventId: repost.eventId, seq: repost.seq, connectionId: repost.connectionId, at: repost.at },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'counted';
    } catch (err) {
      if ((err as Error).name === 'ConditionalCheckFailedException') return 'duplicate';
      throw err;
    }
  }

  async tally(eventId: string, reposts: readonly Repost[]): Promise<number> {
    let added = 0;
    let rest = [...reposts];
    while (rest.length > 0) {
      const { chunk, actions } = this.chunk(eventId, rest);
      rest = rest.slice(chunk.length);
      added += await this.commit(eventId, chunk, actions);
    }
    return added;
  }

  /** As many reposts from the front as fit one transaction with their counters. */
  private chunk(eventId: string, reposts: readonly Repost[]): { chunk: Repost[]; actions: Action[] } {
    const chunk: Repost[] = [];
    const counters = new Set<string>();
    for (const r of reposts) {
      const keys = [seqKey(r.seq), secondKey(secondOf(r.at), r.seq)].filter((k) => !counters.has(k));
      if (chunk.length + 1 + counters.size + keys.length > MAX_ACTIONS) break;
      chunk.push(r);
      for (const k of keys) counters.add(k);
    }
    return { chunk, actions: this.actions(eventId, chunk) };
  }

  private actions(eventId: string, chunk: readonly Repost[]): Action[] {
    const counters = new Map<string, { n: number; seq: number; t?: number }>();
    for (const r of chunk) {
      const t = secondOf(r.at);
      for (const [k, extra] of [
        [seqKey(r.seq), {}],
        [secondKey(t, r.seq), { t }],
      ] as const) {
        const c = counters.get(k) ?? { n: 0, seq: r.seq, ...extra };
        c.n++;
        counters.set(k, c);
      }
    }
    return [
      ...chunk.map(
        (r): Action => ({
          Update: {
            TableName: this.tables.reposts,
            Key: repostKey(r),
            UpdateExpression: 'SET counted = :yes',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(counted)',
            ExpressionAttributeValues: { ':yes': true },
          },
        }),
      ),
      ...[...counters].map(
        ([k, c]): Action => ({
          Update: {
            TableName: this.tables.repostCounts,
            Key: { eventId, k },
            UpdateExpression: c.t === undefined ? 'ADD #n :n SET seq = :seq' : 'ADD #n :n SET seq = :seq, t = :t',
            ExpressionAttributeNames: { '#n': 'count' },
            ExpressionAttributeValues: { ':n': c.n, ':seq': c.seq, ...(c.t === undefined ? {} : { ':t': c.t }) },
          },
        }),
      ),
    ];
  }

  /** Commits one chunk; reposts already counted (a retried batch) are dropped and the rest tried again. */
  private async commit(eventId: string, chunk: Repost[], actions: Action[]): Promise<number> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (chunk.length === 0) return 0;
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: actions }));
        return chunk.length;
      } catch (err) {
        if (!(err instanceof TransactionCanceledException) && (err as Error).name !== 'TransactionCanceledException') throw err;
        const reasons = (err as TransactionCanceledException).CancellationReasons ?? [];
        const counted = new Set<number>();
        reasons.forEach((reason, i) => {
          if (i < chunk.length && reason.Code === 'ConditionalCheckFailed') counted.add(i);
        });
        if (counted.size > 0) {
          chunk = chunk.filter((_, i) => !counted.has(i));
          actions = this.actions(eventId, chunk);
        } else {
          // A conflict with another transaction on the same counters: try again shortly.
          await sleep(Math.random() * 20 * 2 ** round);
        }
      }
    }
    throw new Error(`repost tally for ${eventId} kept failing; the batch will be retried`);
  }

  async totals(eventId: string, fromSeq: number, toSeq: number): Promise<Map<number, number>> {
    const totals = new Map<number, number>();
    if (toSeq < fromSeq) return totals;
    for await (const item of this.query(eventId, 'k BETWEEN :a AND :b', { ':a': seqKey(fromSeq), ':b': seqKey(toSeq) })) {
      totals.set(Number(item.seq), Number(item.count));
    }
    return totals;
  }

  async seconds(eventId: string, afterMs = -1): Promise<RepostSecond[]> {
    const from = afterMs < 0 ? 'sec#' : `sec#${pad(afterMs + 1000, 13)}`;
    const out: RepostSecond[] = [];
    for await (const item of this.query(eventId, 'k BETWEEN :a AND :b', { ':a': from, ':b': 'sec#~' })) {
      const t = Number(item.t);
      let last = out.at(-1);
      if (!last || last.t !== t) out.push((last = { t, bySeq: {} }));
      last.bySeq[String(item.seq)] = Number(item.count);
    }
    return out;
  }

  async detector(eventId: string): Promise<{ state: DetectorState; version: number }> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tables.repostCounts, Key: { eventId, k: 'detector' }, ConsistentRead: true }));
    if (!Item) return { state: initialDetectorState(), version: 0 };
    return { state: JSON.parse(String(Item.state)) as DetectorState, version: Number(Item.version) };
  }

  async saveDetector(eventId: string, version: number, state: DetectorState, spikes: readonly Spike[]): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tables.repostCounts,
                Item: { eventId, k: 'detector', state: JSON.stringify(state), version: version + 1 },
                ConditionExpression: version === 0 ? 'attribute_not_exists(k)' : 'version = :v',
                ...(version === 0 ? {} : { ExpressionAttributeValues: { ':v': version } }),
              },
            },
            // A spike is written when it starts and again when it ends, under the moment it started.
            ...spikes.map((spike) => ({
              Put: { TableName: this.tables.repostCounts, Item: { eventId, k: `spike#${pad(spike.startedAt, 13)}`, ...spike } },
            })),
          ],
        }),
      );
      return true;
    } catch (err) {
      if ((err as Error).name === 'TransactionCanceledException') return false;
      throw err;
    }
  }

  async spikes(eventId: string): Promise<Spike[]> {
    const out: Spike[] = [];
    for await (const item of this.query(eventId, 'begins_with(k, :p)', { ':p': 'spike#' })) {
      out.push({
        startedAt: Number(item.startedAt),
        endedAt: item.endedAt === null || item.endedAt === undefined ? null : Number(item.endedAt),
        peakPerSecond: Number(item.peakPerSecond),
        baselinePerSecond: Number(item.baselinePerSecond),
        total: Number(item.total),
        topSeq: Number(item.topSeq),
      });
    }
    return out;
  }

  private async *query(eventId: string, condition: string, values: Record<string, unknown>): AsyncIterable<Record<string, unknown>> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tables.repostCounts,
          KeyConditionExpression: `eventId = :e AND ${condition}`,
          ExpressionAttributeValues: { ':e': eventId, ...values },
          ExclusiveStartKey: startKey,
        }),
      );
      yield* page.Items ?? [];
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }
}
