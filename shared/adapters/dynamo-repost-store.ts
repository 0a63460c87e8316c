// Reposts on DynamoDB: a conditional put per (connection, seq), sharded like the connections; the
// tally adds them to per-event counters a batch at a time. Exactly once: per repost partition the
// counters keep a watermark (the stream sequence number of the last repost they hold), moved in the
// same transaction as the counts, so a retried batch, whole or split, skips what was counted.
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import type { TableNames } from '../config';
import type { Repost, RepostStore, StreamedRepost } from '../domain/ports';
import type { DetectorState, RepostSecond, Spike } from '../domain/reposts/spike-detector';
import { initialDetectorState } from '../domain/reposts/spike-detector';
import { connectionPartition, shardOf } from '../domain/sharding';
import { queryItems } from './dynamo-paging';

type Tables = Pick<TableNames, 'reposts' | 'repostCounts'>;
type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** TransactWriteItems' limit. */
const MAX_ACTIONS = 100;
/** The watch list's partition: events with a spike open (see watchOpenSpike). */
const OPEN_SPIKES = '#open-spikes';
/** Cancelled transactions in a row (watermarks moved, counter conflicts) before the batch is given back to be retried. */
const MAX_ROUNDS = 8;

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const seqKey = (seq: number) => `seq#${pad(seq, 10)}`;
const secondKey = (t: number, seq: number) => `sec#${pad(t, 13)}#${pad(seq, 10)}`;
const secondOf = (at: number) => Math.floor(at / 1000) * 1000;
/** Stream sequence numbers are decimal strings of up to 40 digits: padded, they compare as strings. */
const padSequence = (sequence: string) => sequence.padStart(40, '0');

export const repostKey = (r: Pick<Repost, 'eventId' | 'seq' | 'connectionId'>) => ({
  pk: connectionPartition(r.eventId, shardOf(r.connectionId)),
  sk: `${pad(r.seq, 10)}#${r.connectionId}`,
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class DynamoRepostStore implements RepostStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: Tables,
  ) {}

  async add(repost: Repost): Promise<'counted' | 'duplicate'> {
    // A put whose answer was lost after it committed is retried by the SDK with the same request; the
    // retry then finds its own item. The attempt's token tells that apart from a real second repost,
    // so the viewer hears `counted: true` exactly when this call stored the repost.
    const attempt = randomUUID();
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tables.reposts,
          Item: { ...repostKey(repost), eventId: repost.eventId, seq: repost.seq, connectionId: repost.connectionId, at: repost.at, attempt },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'counted';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return err.Item?.attempt?.S === attempt ? 'counted' : 'duplicate';
      throw err;
    }
  }

  async tally(eventId: string, reposts: readonly StreamedRepost[]): Promise<number> {
    let added = 0;
    let rest = reposts;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // What the counters hold already, per partition: everything up to its watermark.
      const marks = await this.watermarks(eventId, new Set(rest.map((r) => repostKey(r).pk)));
      const fresh = rest.filter((r) => {
        const mark = marks.get(repostKey(r).pk);
        return mark === undefined || padSequence(r.sequence) > mark;
      });
      if (fresh.length === 0) return added;
      const chunk = this.chunk(fresh);
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: this.actions(eventId, chunk, marks) }));
        added += chunk.length;
        rest = fresh.slice(chunk.length);
        round = -1; // progress: a fresh allowance of rounds for the rest
      } catch (err) {
        if ((err as Error).name !== 'TransactionCanceledException') throw err;
        // Another tally moved a watermark (a retried batch running alongside), or a conflict on a
        // counter: read the watermarks again and go on from there.
        await sleep(Math.random() * 20 * 2 ** round);
      }
    }
    throw new Error(`repost tally for ${eventId} kept failing; the batch will be retried`);
  }

  private async watermarks(eventId: string, pks: ReadonlySet<string>): Promise<Map<string, string>> {
    const marks = new Map<string, string>();
    const keys = [...pks].map((pk) => ({ eventId, k: `wm#${pk}` }));
    for (let i = 0; i < keys.length; i += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean }> | undefined = {
        [this.tables.repostCounts]: { Keys: keys.slice(i, i + 100), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const out = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of out.Responses?.[this.tables.repostCounts] ?? []) marks.set(String(item.k).slice(3), String(item.mark));
        request = out.UnprocessedKeys as typeof request;
      }
    }
    return marks;
  }

  /** As many reposts from the front as fit one transaction with their counters and watermarks. */
  private chunk(reposts: readonly StreamedRepost[]): StreamedRepost[] {
    const keys = new Set<string>();
    let n = 0;
    for (const r of reposts) {
      const add = [seqKey(r.seq), secondKey(secondOf(r.at), r.seq), `wm#${repostKey(r).pk}`].filter((k) => !keys.has(k));
      if (keys.size + add.length > MAX_ACTIONS) break;
      for (const k of add) keys.add(k);
      n++;
    }
    return reposts.slice(0, n);
  }

  /**
   * One ADD per counter the chunk touches, and per partition its watermark moved to the chunk's
   * last repost there, on the condition that it is still where this tally read it: two tallies can
   * never both count the same reposts.
   */
  private actions(eventId: string, chunk: readonly StreamedRepost[], marks: ReadonlyMap<string, string>): Action[] {
    const counters = new Map<string, { n: number; seq: number; t?: number }>();
    const lastByPk = new Map<string, string>();
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
      lastByPk.set(repostKey(r).pk, padSequence(r.sequence));
    }
    return [
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
      ...[...lastByPk].map(([pk, last]): Action => {
        const was = marks.get(pk);
        return {
          Put: {
            TableName: this.tables.repostCounts,
            Item: { eventId, k: `wm#${pk}`, mark: last },
            ConditionExpression: was === undefined ? 'attribute_not_exists(k)' : 'mark = :was',
            ...(was === undefined ? {} : { ExpressionAttributeValues: { ':was': was } }),
          },
        };
      }),
    ];
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

  // The watch list lives in a partition of its own, under a key no event id can take ('#' is not
  // allowed in one): written when a spike starts and removed by the sweep, a few writes per spike.
  async watchOpenSpike(eventId: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tables.repostCounts, Item: { eventId: OPEN_SPIKES, k: eventId } }));
  }

  async unwatchOpenSpike(eventId: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tables.repostCounts, Key: { eventId: OPEN_SPIKES, k: eventId } }));
  }

  async eventsWithOpenSpikes(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of this.query(OPEN_SPIKES)) out.push(String(item.k));
    return out;
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

  /** Every item of the event's partition whose sort key meets `condition` (all of them without one). */
  private query(eventId: string, condition?: string, values: Record<string, unknown> = {}): AsyncIterable<Record<string, unknown>> {
    return queryItems(this.db, {
      TableName: this.tables.repostCounts,
      KeyConditionExpression: condition ? `eventId = :e AND ${condition}` : 'eventId = :e',
      ExpressionAttributeValues: { ':e': eventId, ...values },
    });
  }
}
