// Live counts of a storm over thousands of entries, end to end: written into the change log on
// DynamoDB Local as the tally writes them, sent by the real delivery workers through the local
// gateway to real sockets; every viewer ends up with every count, in messages under 32 KB.
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { DynamoEntryStore } from '../../shared/adapters/dynamo-entry-store';
import type { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import { DynamoViewerCounts } from '../../shared/adapters/dynamo-viewer-counts';
import { MAX_FRAME_BYTES } from '../../shared/domain/protocol';
import { StatsPublisher } from '../../shared/domain/stats-publisher';
import { type CreatedEvent, createEvent, reporterUrl, testStage, viewerUrl, stageDb } from '../support/stage';
import { repostStore } from '../support/storm';
import { connect, type TestClient } from '../support/ws-client';

const VIEWERS = 10;
/** Entries reposted in one window: ~95 KB of totals, more than one change-log line (8,000) and three frames hold. */
const SEQS = 9_000;

let stage: Stage;
let db: DynamoDBDocumentClient;
let entries: DynamoEntryStore;
let reposts: DynamoRepostStore;
let event: CreatedEvent;
let viewers: TestClient[] = [];

beforeAll(async () => {
  stage = await testStage();
  reposts = repostStore(stage);
  db = stageDb(stage);
  entries = new DynamoEntryStore(db, stage.tables);
  event = await createEvent(stage);
  const reporter = await connect(reporterUrl(stage, event));
  reporter.send({ action: 'publish', clientId: 'p1', text: 'The dragon boats are off!' });
  await reporter.next((f) => f.type === 'ack');
  await reporter.close();
  viewers = await Promise.all(Array.from({ length: VIEWERS }, () => connect(viewerUrl(stage, event.eventId))));
}, 60_000);

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.close()));
  await stage?.stop();
});

/** Per-seq counter rows as DynamoRepostStore keeps them (`seq#` + 10 digits, `count`), 25 a request. */
async function writeCounters(eventId: string, totals: ReadonlyMap<number, number>): Promise<void> {
  const items = [...totals].map(([seq, count]) => ({
    PutRequest: { Item: { eventId, k: `seq#${String(seq).padStart(10, '0')}`, seq, count } },
  }));
  const batches = Array.from({ length: Math.ceil(items.length / 25) }, (_, i) => items.slice(i * 25, i * 25 + 25));
  for (let i = 0; i < batches.length; i += 8) {
    await Promise.all(
      batches.slice(i, i + 8).map(async (batch) => {
        let request: Record<string, typeof batch> | undefined = { [stage.tables.repostCounts]: batch };
        while (request && Object.keys(request).length > 0) {
          const out = await db.send(new BatchWriteCommand({ RequestItems: request }));
          request = out.UnprocessedItems as typeof request;
        }
      }),
    );
  }
}

/** Each stats frame names absolute totals for its seqs: what a page shows after applying them in order. */
const shown = (v: TestClient) =>
  v.frames.reduce<Record<string, number>>(
    (held, f) => (f.type === 'stats' ? Object.assign(held, f.reposts) : held),
    {},
  );

describe('live counts of a storm over thousands of entries', () => {
  it('reach every viewer, every count, in frames under the limit', { timeout: 120_000 }, async () => {
    // The storm's counters as the tally leaves them (the tally itself is tested in reposts.test.ts;
    // 18,000 counter updates through it take minutes on a loaded machine), then the real
    // StatsPublisher reads them and appends the window's stats to the change log, as the tally does.
    const totals = new Map(Array.from({ length: SEQS }, (_, i) => [i + 1, 1 + ((i * 7) % 40)] as const));
    await writeCounters(event.eventId, totals);
    const stats = new StatsPublisher({
      reposts,
      entries,
      viewers: new DynamoViewerCounts(db, stage.tables.repostCounts),
      now: Date.now,
    });
    await stats.publish(event.eventId, new Set(totals.keys()));
    const want = Object.fromEntries([...totals].map(([seq, n]) => [String(seq), n]));

    // Real workers, real sockets: wait until every viewer shows every count (or the timeout says which did not).
    const missing = () =>
      viewers.map((v) => {
        const held = shown(v);
        return Object.entries(want).filter(([seq, n]) => held[seq] !== n).length;
      });
    await expect.poll(missing, { timeout: 60_000, interval: 200 }).toEqual(viewers.map(() => 0));

    for (const v of viewers) {
      for (const m of v.messages) expect(Buffer.byteLength(m, 'utf8')).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      // The counts came in more than one stats frame: one would not have fitted.
      expect(v.frames.filter((f) => f.type === 'stats' && Object.keys(f.reposts).length > 0).length).toBeGreaterThan(1);
    }
  });
});
