// Scenario "reposts": a repost storm — every one of 1,000 real WebSocket connections reposts each of
// 10 entries at once (10,000 reposts) through the local stage — against the raw PutItem rate of the
// same DynamoDB Local, measured just before in the same run. Reports reposts/s absorbed (acked),
// when the counts were final, and whether and how fast the spike was recorded.
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import { createTables } from '../../local/create-tables';
import { DynamoRepostStore, repostKey } from '../../shared/adapters/dynamo-repost-store';
import { type Child, startChild } from '../lib/child';
import { cpuSpan } from '../lib/cpu';
import { ratio, type ScenarioReport, type Target } from '../lib/report';
import { benchStage, createEvent, reporterUrl, viewerUrl } from '../lib/stage';
import type { Table } from '../lib/table';

export interface RepostsOptions {
  viewers: number;
  /** Entries published before the storm; every viewer reposts each. */
  entries: number;
  /** Conditional PutItems in flight for the raw baseline. */
  rawInFlight: number;
  workerProcesses: number;
}

interface StormResult {
  expected: number;
  acked: number;
  counted: number;
  refused: number;
  /** Date.now() when the first repost was sent. */
  startedAt: number;
  sentMs: number;
  answeredMs: number;
}

function documentClient(endpoint: string, maxSockets: number): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets }) }),
    }),
  );
}

/** The baseline: `count` conditional PutItems of repost-shaped items, `inFlight` at a time, into a table of their own. */
async function rawPutRate(
  endpoint: string,
  tag: string,
  count: number,
  inFlight: number,
): Promise<{ perSecond: number; ms: number }> {
  const raw = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const tables = await createTables(raw, `rawput${tag}`).finally(() => raw.destroy());
  const db = documentClient(endpoint, inFlight);
  const at = Date.now();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        const r = { eventId: 'raw', seq: 1 + (i % 10), connectionId: `c${Math.floor(i / 10)}`, at };
        await db.send(
          new PutCommand({
            TableName: tables.reposts,
            Item: { ...repostKey(r), ...r },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      }
    }),
  );
  const ms = performance.now() - t0;
  db.destroy();
  return { perSecond: (count / ms) * 1000, ms };
}

export async function runReposts(
  dynamoEndpoint: string,
  tag: string,
  opts: RepostsOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const started = performance.now();
  const total = opts.viewers * opts.entries;
  const clients: Child = await startChild('bench/sockets/clients.ts');
  const stage = await benchStage(dynamoEndpoint, `rp${tag}`, {
    workerProcesses: opts.workerProcesses,
    env: { LIVECAST_WORKER_IDLE_MS: '2000' },
  });
  try {
    const event = await createEvent(stage, 'bench repost storm');
    const c = await clients.call<{ connected: number; ms: number }>(
      'connect',
      { url: viewerUrl(stage, event.eventId), count: opts.viewers, concurrency: 100, timeoutMs: 30_000 },
      600_000,
    );
    log(`  reposts: ${c.connected.toLocaleString('en-US')} viewers connected in ${(c.ms / 1000).toFixed(1)} s`);
    if (c.connected !== opts.viewers) throw new Error(`only ${c.connected} of ${opts.viewers} viewers connected`);
    await clients.call('reporter', { url: reporterUrl(stage, event) });
    // The entries to repost, and one more for the warm-up.
    const published = await clients.call<{ allDelivered: boolean }>(
      'run',
      { updates: opts.entries + 1, baseSeq: 0, runId: 'storm', timeoutMs: 60_000 },
      120_000,
    );
    if (!published.allDelivered) throw new Error('the entries to repost did not reach every viewer');
    await stage.settled(60_000);
    const store = new DynamoRepostStore(documentClient(dynamoEndpoint, 4), stage.tables);

    // Warm-up, not measured: every viewer reposts the extra entry once, as the JITs of Node and of
    // DynamoDB Local's JVM compile the repost and tally paths on their first pass (a cold storm
    // spent a third of a core on DynamoDB Local's compiler thread). Then the wave dies away.
    const warmSeq = opts.entries + 1;
    log(`  reposts: warm-up — ${opts.viewers.toLocaleString('en-US')} reposts of entry ${warmSeq}…`);
    await clients.call<StormResult>('storm', { seqs: [warmSeq], timeoutMs: 120_000 }, 180_000);
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
      if (((await store.totals(event.eventId, warmSeq, warmSeq)).get(warmSeq) ?? 0) >= opts.viewers) break;
    }
    await sleep(5_000);
    const spikesBefore = (await store.spikes(event.eventId)).length;

    log(
      `  reposts: raw PutItem baseline (${total.toLocaleString('en-US')} conditional puts, ${opts.rawInFlight} in flight)…`,
    );
    const raw = await rawPutRate(dynamoEndpoint, tag, total, opts.rawInFlight);
    log(`  reposts: raw PutItem ${Math.round(raw.perSecond).toLocaleString('en-US')}/s`);

    const seqs = Array.from({ length: opts.entries }, (_, i) => i + 1);
    // Watch the store from this process while the storm runs (lightly: it reads the same DynamoDB
    // Local): when the spike appears (every 100 ms), and, once every repost is acked, when the totals are final.
    let finalAt = NaN;
    let spikeSeenAt = NaN;
    let watching = true;
    let allAcked = false;
    const watcher = (async () => {
      while (watching && (Number.isNaN(finalAt) || Number.isNaN(spikeSeenAt))) {
        if (Number.isNaN(spikeSeenAt) && (await store.spikes(event.eventId)).length > spikesBefore)
          spikeSeenAt = Date.now();
        if (Number.isNaN(finalAt) && allAcked) {
          const totals = await store.totals(event.eventId, 1, opts.entries);
          if ([...totals.values()].reduce((a, b) => a + b, 0) >= total) finalAt = Date.now();
        }
        await sleep(100);
      }
    })();

    log(`  reposts: storm — ${opts.viewers.toLocaleString('en-US')} connections × ${opts.entries} entries…`);
    const span = cpuSpan(stage.workerPids());
    const storm = await clients.call<StormResult>('storm', { seqs, timeoutMs: 120_000 }, 180_000);
    allAcked = true;
    const cpu = span();
    for (
      const deadline = Date.now() + 60_000;
      Date.now() < deadline && (Number.isNaN(finalAt) || Number.isNaN(spikeSeenAt));
    )
      await sleep(100);
    watching = false;
    await watcher;
    // The organiser's view brings the detector up to date once the wave has died away: the spike
    // ends and is recounted from the exact series (bounded wait).
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(500)) {
      const view = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/reposts?bucket=1`)).json()) as {
        spikes: { endedAt: number | null }[];
      };
      if (view.spikes[spikesBefore]?.endedAt) break;
    }

    const totals = await store.totals(event.eventId, 1, opts.entries);
    const stored = [...totals.values()].reduce((a, b) => a + b, 0);
    const spikes = await store.spikes(event.eventId);
    const spike = spikes[spikesBefore];
    const absorbed = (storm.acked / storm.answeredMs) * 1000;
    const x = ratio(absorbed, raw.perSecond);
    const finalS = (finalAt - storm.startedAt) / 1000;
    const spikeS = (spikeSeenAt - storm.startedAt) / 1000;
    log(
      `  reposts: ${storm.acked.toLocaleString('en-US')} acked in ${(storm.answeredMs / 1000).toFixed(1)} s, counts final after ${finalS.toFixed(1)} s, spike after ${spikeS.toFixed(1)} s`,
    );

    const table: Table = {
      title: `Repost storm: ${opts.viewers.toLocaleString('en-US')} connections × ${opts.entries} entries = ${total.toLocaleString('en-US')} reposts at once`,
      columns: [
        'path',
        'reposts',
        'acked',
        'counted (acks)',
        'counted (totals)',
        'per second',
        '× raw',
        'counts final s',
        'spike recorded s',
        'spike peak/s',
        'spike total',
        'spike s',
      ],
      rows: [
        [
          `raw conditional PutItem, ${opts.rawInFlight} in flight (baseline)`,
          total,
          '—',
          '—',
          '—',
          Math.round(raw.perSecond),
          '1.00',
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
        ],
        [
          'livecast repost storm',
          storm.expected,
          storm.acked,
          storm.counted,
          stored,
          Math.round(absorbed),
          x.toFixed(2),
          Number.isNaN(finalS) ? 'not within 60 s' : finalS.toFixed(2),
          Number.isNaN(spikeS) ? 'none' : spikeS.toFixed(2),
          spike?.peakPerSecond,
          spike?.total,
          spike ? (spike.endedAt === null ? 'open' : ((spike.endedAt - spike.startedAt) / 1000).toFixed(0)) : undefined,
        ],
      ],
      notes: [
        `per second: the baseline's puts ÷ its time; the storm's acks ÷ (last answer − first repost sent), the repost route end to end (gateway, handler, entry check, conditional put). counts final / spike recorded: seconds from the first repost sent until the totals in RepostCounts add up to every repost acked as counted (read every 100 ms once every repost is acked) / until the spike's item exists (read every 100 ms). CPU while the storm lasted: stage ${cpu.self.toFixed(2)}, workers ${cpu.workers.toFixed(2)}, DynamoDB Local ${Number.isNaN(cpu.dynamo) ? '?' : cpu.dynamo.toFixed(2)} cores.`,
      ],
    };
    const targets: Target[] = [
      {
        scenario: 'reposts',
        name: 'repost storm: exact counts',
        target: 'every repost acked as counted is in the totals, once',
        measured: `${storm.counted.toLocaleString('en-US')} counted, ${stored.toLocaleString('en-US')} in the totals, ${storm.refused} refused`,
        met: storm.counted === total && stored === total && storm.refused === 0,
      },
      {
        scenario: 'reposts',
        name: 'repost storm: reposts/s absorbed vs raw PutItem',
        target: '≥ 0.5× raw',
        measured: `${x.toFixed(2)}× (${Math.round(absorbed).toLocaleString('en-US')} vs ${Math.round(raw.perSecond).toLocaleString('en-US')}/s)`,
        met: x >= 0.5,
      },
      {
        scenario: 'reposts',
        name: 'repost storm: spike recorded',
        target: "within 2 s of the wave's start",
        measured: Number.isNaN(spikeS) ? 'no spike' : `after ${spikeS.toFixed(2)} s`,
        met: spikeS <= 2,
      },
    ];
    await clients.call('close', undefined, 120_000);
    return {
      name: 'reposts',
      tables: [table],
      targets,
      data: { options: opts, raw, storm, stored, spikes, finalS, spikeS, cpu },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await stage.stop();
    await clients.stop();
  }
}
