// Reposts on DynamoDB: a conditional put per (voter, seq) — a voter is a signed viewer id, or an
// address for clients without one (reposts/sources.ts) — sharded by voter; each row expires 30 days
// after the repost. The tally adds them to per-event counters a batch at a time. Exactly once: per
// repost partition the counters keep a watermark (the stream sequence number of the last repost
// they hold), moved in the same transaction as the counts, so a retried batch, whole or split,
// skips what was counted. It also keeps 10 s and 60 s buckets (GET /reposts reads an hour at 60 s
// as 60 items) and, per second, the distinct viewers and networks the spike rule asks for.
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import type { TableNames } from '../config';
import type { Repost, RepostSeries, RepostStore, StreamedRepost } from '../domain/ports';
import { fingerprint } from '../domain/reposts/sources';
import type { DetectorState, RepostSecond, Spike } from '../domain/reposts/spike-detector';
import { initialDetectorState, MAX_DISTINCT_PER_SECOND } from '../domain/reposts/spike-detector';
import { connectionPartition, shardOf } from '../domain/sharding';
import { attempts } from '../retry';
import { queryItems, queryUpTo } from './dynamo-paging';

type Tables = Pick<TableNames, 'reposts' | 'repostCounts'>;
type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** TransactWriteItems' limit. */
const MAX_ACTIONS = 100;
/** The watch list's partition: events with a spike open (see watchOpenSpike). */
const OPEN_SPIKES = '#open-spikes';
/** Cancelled transactions in a row (watermarks moved, counter conflicts) before the batch is given back to be retried. */
const MAX_ROUNDS = 8;
/** BatchGetItem calls for one hundred watermarks before keys still unprocessed are an error (the batch is retried). */
const BATCH_GET_ROUNDS = 10;

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const seqKey = (seq: number) => `seq#${pad(seq, 10)}`;
const secondKey = (t: number, seq: number) => `sec#${pad(t, 13)}#${pad(seq, 10)}`;
const secondOf = (at: number) => Math.floor(at / 1000) * 1000;
/** The series in buckets the tally keeps, besides seconds: what GET /reposts reads for ?bucket=10 and 60. */
const BUCKETS = [10, 60] as const;
const bucketKey = (size: number, t: number) => `b${size}#${pad(Math.floor(t / (size * 1000)) * size * 1000, 13)}`;
/** A second's distinct viewers and networks: inside the second's `sec#` range, after its per-seq counters. */
const sourcesKey = (t: number) => `sec#${pad(t, 13)}#src`;
/**
 * How long a repost row is kept (the TTL attribute `expiresAt`): as long as a viewer id lives, so
 * within an id's life a repost is never counted twice. The counts themselves are kept for good.
 */
export const REPOST_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
const voterOf = (r: Pick<Repost, 'voter' | 'connectionId'>) => r.voter ?? r.connectionId;
/** Stream sequence numbers are decimal strings of up to 40 digits: padded, they compare as strings. */
const padSequence = (sequence: string) => sequence.padStart(40, '0');

/** Rows written before voters existed were keyed by their connection: a voter defaults to it, so their keys are unchanged. */
export const repostKey = (r: Pick<Repost, 'eventId' | 'seq' | 'connectionId' | 'voter'>) => ({
  pk: connectionPartition(r.eventId, shardOf(voterOf(r))),
  sk: `${pad(r.seq, 10)}#${voterOf(r)}`,
});

export class DynamoRepostStore implements RepostStore, RepostSeries {
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
          Item: {
            ...repostKey(repost),
            eventId: repost.eventId,
            seq: repost.seq,
            connectionId: repost.connectionId,
            at: repost.at,
            ...(repost.voter ? { voter: repost.voter } : {}),
            ...(repost.source ? { source: repost.source } : {}),
            expiresAt: Math.ceil((repost.at + REPOST_RETENTION_MS) / 1000),
            attempt,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'counted';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException)
        return err.Item?.attempt?.S === attempt ? 'counted' : 'duplicate';
      throw err;
    }
  }

  async tally(eventId: string, reposts: readonly StreamedRepost[]): Promise<number> {
    let added = 0;
    let rest = reposts;
    // Each chunk that commits is progress: the rest gets a fresh allowance of rounds.
    for (;;) {
      const step = await this.tallyNextChunk(eventId, rest);
      if (!step) return added;
      added += step.added;
      rest = step.rest;
    }
  }

  /** Counts the next chunk of `reposts` the counters do not hold yet; undefined when they hold them all. */
  private async tallyNextChunk(
    eventId: string,
    reposts: readonly StreamedRepost[],
  ): Promise<{ added: number; rest: StreamedRepost[] } | undefined> {
    // Up to 20, 40, … 1,280 ms between rounds (base 10: the wait before round n is 20 × 2^(n-1) at most).
    for await (const _round of attempts({ tries: MAX_ROUNDS, baseMs: 10, capMs: Infinity })) {
      // What the counters hold already, per partition: everything up to its watermark.
      const marks = await this.watermarks(eventId, new Set(reposts.map((r) => repostKey(r).pk)));
      const fresh = reposts.filter((r) => {
        const mark = marks.get(repostKey(r).pk);
        return mark === undefined || padSequence(r.sequence) > mark;
      });
      if (fresh.length === 0) return undefined;
      const chunk = this.chunk(fresh);
      // Before the counts: a set only gains what it has, so a retry adds nothing, and a batch whose
      // counts commit has its sources kept already (after them, a crash in between would lose them).
      await this.addSources(eventId, chunk);
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: this.actions(eventId, chunk, marks) }));
        return { added: chunk.length, rest: fresh.slice(chunk.length) };
      } catch (err) {
        if ((err as Error).name !== 'TransactionCanceledException') throw err;
        // Another tally moved a watermark (a retried batch running alongside), or a conflict on a
        // counter: read the watermarks again and go on from there.
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
      // Unprocessed keys are asked again with backoff, as the entry store's BatchGetItem rounds are
      // (this loop once asked again at once, and without end).
      for await (const _round of attempts({ tries: BATCH_GET_ROUNDS, baseMs: 20, capMs: 1_000 })) {
        const out = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of out.Responses?.[this.tables.repostCounts] ?? [])
          marks.set(String(item.k).slice(3), String(item.mark));
        request = out.UnprocessedKeys as typeof request;
        if (!request || Object.keys(request).length === 0) break;
      }
      if (request && Object.keys(request).length > 0)
        throw new Error(
          `repost tally for ${eventId}: watermarks still unread after ${BATCH_GET_ROUNDS} BatchGetItem rounds`,
        );
    }
    return marks;
  }

  /** As many reposts from the front as fit one transaction with their counters and watermarks. */
  private chunk(reposts: readonly StreamedRepost[]): StreamedRepost[] {
    const keys = new Set<string>();
    let n = 0;
    for (const r of reposts) {
      const add = [
        seqKey(r.seq),
        secondKey(secondOf(r.at), r.seq),
        ...BUCKETS.map((b) => bucketKey(b, r.at)),
        `wm#${repostKey(r).pk}`,
      ].filter((k) => !keys.has(k));
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
    const counters = new Map<string, { n: number; seq?: number; t?: number }>();
    const lastByPk = new Map<string, string>();
    const count = (k: string, fields: { seq?: number; t?: number }) => {
      const c = counters.get(k) ?? { n: 0, ...fields };
      c.n++;
      counters.set(k, c);
    };
    for (const r of chunk) {
      const t = secondOf(r.at);
      count(seqKey(r.seq), { seq: r.seq });
      count(secondKey(t, r.seq), { seq: r.seq, t });
      for (const b of BUCKETS) count(bucketKey(b, r.at), { t: Math.floor(r.at / (b * 1000)) * b * 1000 });
      lastByPk.set(repostKey(r).pk, padSequence(r.sequence));
    }
    return [
      ...[...counters].map(([k, c]): Action => {
        const set = [...(c.seq === undefined ? [] : ['seq = :seq']), ...(c.t === undefined ? [] : ['t = :t'])];
        return {
          Update: {
            TableName: this.tables.repostCounts,
            Key: { eventId, k },
            UpdateExpression: `ADD #n :n${set.length > 0 ? ` SET ${set.join(', ')}` : ''}`,
            ExpressionAttributeNames: { '#n': 'count' },
            ExpressionAttributeValues: {
              ':n': c.n,
              ...(c.seq === undefined ? {} : { ':seq': c.seq }),
              ...(c.t === undefined ? {} : { ':t': c.t }),
            },
          },
        };
      }),
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
    for await (const item of this.query(eventId, 'k BETWEEN :a AND :b', {
      ':a': seqKey(fromSeq),
      ':b': seqKey(toSeq),
    })) {
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
      if (String(item.k).endsWith('#src')) {
        last.viewers = item.v instanceof Set ? item.v.size : 0;
        last.sources = item.p instanceof Set ? item.p.size : 0;
      } else last.bySeq[String(item.seq)] = Number(item.count);
    }
    return out;
  }

  /**
   * Adds each second's voters and networks (fingerprints) to its sets, up to MAX_DISTINCT_PER_SECOND
   * each: enough for any rule, and a second's item stays a few KB whatever the storm. A set already
   * full refuses the add (its condition), which is no error. Rows from before voters count each
   * connection as a viewer and a network of its own, as the detector then did.
   */
  private async addSources(eventId: string, reposts: readonly StreamedRepost[]): Promise<void> {
    const bySecond = new Map<number, { v: Set<string>; p: Set<string> }>();
    for (const r of reposts) {
      const t = secondOf(r.at);
      const sets = bySecond.get(t) ?? { v: new Set<string>(), p: new Set<string>() };
      bySecond.set(t, sets);
      const voter = fingerprint(voterOf(r));
      if (sets.v.size < MAX_DISTINCT_PER_SECOND) sets.v.add(voter);
      if (sets.p.size < MAX_DISTINCT_PER_SECOND) sets.p.add(r.source ?? voter);
    }
    const adds = [...bySecond].flatMap(([t, sets]) =>
      (['v', 'p'] as const).map(async (name) => {
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.tables.repostCounts,
              Key: { eventId, k: sourcesKey(t) },
              UpdateExpression: 'ADD #s :add SET t = :t',
              ConditionExpression: 'attribute_not_exists(#s) OR size(#s) < :cap',
              ExpressionAttributeNames: { '#s': name },
              ExpressionAttributeValues: { ':add': sets[name], ':t': t, ':cap': MAX_DISTINCT_PER_SECOND },
            }),
          );
        } catch (err) {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
        }
      }),
    );
    await Promise.all(adds);
  }

  async series(
    eventId: string,
    bucketSeconds: number,
  ): Promise<{ buckets: { t: number; count: number }[]; total: number }> {
    // The total from the per-entry totals (one item per entry reposted): exact also for an event
    // whose early reposts were tallied before buckets were kept.
    const [totals, buckets] = await Promise.all([
      this.totals(eventId, 0, 9_999_999_999),
      this.buckets(eventId, bucketSeconds),
    ]);
    return { buckets, total: [...totals.values()].reduce((a, b) => a + b, 0) };
  }

  private async buckets(eventId: string, size: number): Promise<{ t: number; count: number }[]> {
    const out: { t: number; count: number }[] = [];
    if ((BUCKETS as readonly number[]).includes(size)) {
      const prefix = `b${size}#`;
      for await (const item of this.query(eventId, 'begins_with(k, :p)', { ':p': prefix }))
        out.push({ t: Number(item.t), count: Number(item.count) });
      // None kept: reposts tallied before buckets were (or none at all); the seconds answer exactly.
      if (out.length > 0 || !(await this.hasSeconds(eventId))) return out;
    }
    for (const s of await this.seconds(eventId)) {
      const count = Object.values(s.bySeq).reduce((a, b) => a + b, 0);
      if (count === 0) continue;
      const t = Math.floor(s.t / (size * 1000)) * size * 1000;
      const last = out.at(-1);
      if (last?.t === t) last.count += count;
      else out.push({ t, count });
    }
    return out;
  }

  private async hasSeconds(eventId: string): Promise<boolean> {
    const found = await queryUpTo(
      this.db,
      {
        TableName: this.tables.repostCounts,
        KeyConditionExpression: 'eventId = :e AND begins_with(k, :p)',
        ExpressionAttributeValues: { ':e': eventId, ':p': 'sec#' },
      },
      1,
    );
    return found.length > 0;
  }

  async detector(eventId: string): Promise<{ state: DetectorState; version: number }> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tables.repostCounts, Key: { eventId, k: 'detector' }, ConsistentRead: true }),
    );
    if (!Item) return { state: initialDetectorState(), version: 0 };
    return { state: JSON.parse(String(Item.state)) as DetectorState, version: Number(Item.version) };
  }

  async saveDetector(
    eventId: string,
    version: number,
    state: DetectorState,
    spikes: readonly Spike[],
  ): Promise<boolean> {
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
              Put: {
                TableName: this.tables.repostCounts,
                Item: { eventId, k: `spike#${pad(spike.startedAt, 13)}`, ...spike },
              },
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
    await this.db.send(
      new PutCommand({ TableName: this.tables.repostCounts, Item: { eventId: OPEN_SPIKES, k: eventId } }),
    );
  }

  async unwatchOpenSpike(eventId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tables.repostCounts, Key: { eventId: OPEN_SPIKES, k: eventId } }),
    );
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
  private query(
    eventId: string,
    condition?: string,
    values: Record<string, unknown> = {},
  ): AsyncIterable<Record<string, unknown>> {
    return queryItems(this.db, {
      TableName: this.tables.repostCounts,
      KeyConditionExpression: condition ? `eventId = :e AND ${condition}` : 'eventId = :e',
      ExpressionAttributeValues: { ':e': eventId, ...values },
    });
  }
}
