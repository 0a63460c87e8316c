// Scenario "cost": CPU microseconds per delivered post, the lean signed poster and the SDK against a bare kept-alive http.request, all to one sink in a child process.
import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import { createManagementClient } from '../../shared/adapters/aws-clients';
import { ManagementApiGateway } from '../../shared/adapters/management-gateway';
import { SignedPoster } from '../../shared/adapters/signed-poster';
import { loadConfig, tableEnv } from '../../shared/config';
import { defaultWorkerOptions, runDeliveryWorker } from '../../shared/domain/delivery/worker';
import type { ConnectionGateway, ConnectionRecord, Logger } from '../../shared/domain/ports';
import type { Entry } from '../../shared/domain/protocol';
import { tableNames } from '../../local/create-tables';
import { startChild } from '../lib/child';
import { median } from '../lib/stats';
import type { ScenarioReport, Target } from '../lib/report';
import type { Table } from '../lib/table';
import { MemoryChanges, MemoryConnections, MemoryLeases, noSuccessor } from './memory-ports';

export interface CostOptions {
  /** Posts per measured round of each path. */
  posts: number;
  /** Rounds; the paths take turns so drift on the machine hits them alike; the median round is kept. */
  rounds: number;
  /** Posts in flight, the worker's default maxInFlight. */
  inFlight: number;
}

const EVENT_ID = 'bench-cost';
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A typical update: what one viewer is sent for one publish. */
function sampleEntry(): Entry {
  const at = new Date().toISOString();
  return {
    seq: 1,
    rev: 1,
    kind: 'text',
    text: 'Dragon boats are on the water — the first heat starts in five minutes.',
    pinned: false,
    deleted: false,
    createdAt: at,
    updatedAt: at,
    reposts: 0,
    images: [],
  };
}

interface Measured {
  usPerPost: number;
  /** The sink's CPU per post: the management API's side of the call. */
  sinkUsPerPost: number;
  postsPerSecond: number;
  failures: number;
}

async function measure(
  run: () => Promise<{ posts: number; failures: number }>,
  sinkCpu: () => Promise<number>,
): Promise<Measured> {
  const sink0 = await sinkCpu();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const { posts, failures } = await run();
  const wall = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  const sinkUsed = (await sinkCpu()) - sink0;
  return {
    usPerPost: (used.user + used.system) / posts,
    sinkUsPerPost: sinkUsed / posts,
    postsPerSecond: (posts / wall) * 1000,
    failures,
  };
}

/** `n` posts, `c` in flight, round-robin over the ids. */
async function drive(post: (id: string) => Promise<boolean>, ids: readonly string[], n: number, c: number) {
  let next = 0;
  let failures = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      if (!(await post(ids[i % ids.length]!))) failures++;
    }
  };
  await Promise.all(Array.from({ length: c }, lane));
  return { posts: n, failures };
}

export async function runCost(opts: CostOptions, log: (line: string) => void): Promise<ScenarioReport> {
  const started = performance.now();
  const ids = Array.from({ length: opts.posts }, (_, i) => `v-${String(i).padStart(6, '0')}`);
  const sink = await startChild('bench/cost/sink.ts');
  try {
    const { endpoint } = await sink.call<{ endpoint: string }>('start', { ids });
    const sinkCpu = () => sink.call<number>('cpu');
    const url = new URL(endpoint);
    const entry = sampleEntry();
    const payload = new TextEncoder().encode(JSON.stringify({ type: 'update', eventId: EVENT_ID, entry }));

    // (1) The baseline: a bare kept-alive http.request carrying the same bytes to the same path.
    const agent = new http.Agent({ keepAlive: true, maxSockets: opts.inFlight });
    const bare = (id: string) =>
      new Promise<boolean>((resolve, reject) => {
        const req = http.request(
          {
            hostname: url.hostname,
            port: url.port,
            method: 'POST',
            path: `/@connections/${id}`,
            agent,
            headers: { 'content-type': 'application/json', 'content-length': payload.byteLength },
          },
          (res) => {
            res.resume();
            res.once('end', () => resolve(res.statusCode === 200));
          },
        );
        req.once('error', reject);
        req.end(payload);
      });

    // (2) and (3): the product's two transports, built as the container builds them.
    const config = loadConfig({
      ...tableEnv(tableNames('bench')),
      AWS_REGION: 'us-east-1',
      LIVECAST_LOCAL: '1',
      LIVECAST_CONNECTIONS_ENDPOINT: endpoint,
      LIVECAST_WORKER_IN_FLIGHT: String(opts.inFlight),
    });
    const signed = new SignedPoster({
      endpoint,
      region: config.region,
      credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
      maxSockets: config.workerInFlight * 2,
    });
    const management = createManagementClient(config);
    const sdk = new ManagementApiGateway(management);
    const viaGateway = (g: ConnectionGateway) => async (id: string) => (await g.post(id, payload)) === 'ok';

    // (4) and (5): the whole worker path — sweep, cursors, feed, pacer — with in-memory stores.
    const rows: ConnectionRecord[] = ids.map((connectionId) => ({
      eventId: EVENT_ID,
      connectionId,
      role: 'viewer',
      fromChange: 0,
    }));
    const worker = (gateway: ConnectionGateway) => async (n: number) => {
      const report = await runDeliveryWorker(
        EVENT_ID,
        0,
        {
          changes: new MemoryChanges([{ changeNo: 1, entry }]),
          connections: new MemoryConnections(rows.slice(0, n)),
          gateway,
          leases: new MemoryLeases(),
          successor: noSuccessor,
          log: silent,
          now: Date.now,
          sleep,
        },
        // Unpaced: this measures CPU, not the budget.
        { ...defaultWorkerOptions, ratePerSecond: 1_000_000, maxInFlight: opts.inFlight, idleExitMs: 0 },
      );
      return { posts: report.posts, failures: report.posts - report.visits };
    };

    const paths: { key: string; label: string; run: (n: number) => Promise<{ posts: number; failures: number }> }[] = [
      { key: 'bare', label: 'bare kept-alive http.request (baseline)', run: (n) => drive(bare, ids, n, opts.inFlight) },
      {
        key: 'signed',
        label: 'SignedPoster.post (lean SigV4)',
        run: (n) => drive(viaGateway(signed), ids, n, opts.inFlight),
      },
      {
        key: 'sdk',
        label: 'ManagementApiGateway.post (SDK PostToConnection)',
        run: (n) => drive(viaGateway(sdk), ids, n, opts.inFlight),
      },
      { key: 'workerSigned', label: 'delivery worker + SignedPoster (the product path)', run: worker(signed) },
      { key: 'workerSdk', label: 'delivery worker + SDK (LIVECAST_POST_TRANSPORT=sdk)', run: worker(sdk) },
    ];

    // Let what ran before (a JVM exiting, children stopping) finish, then warm up: JIT, sockets,
    // the SDK's lazy loading and credential chain.
    await sleep(2_000);
    for (const p of paths) await p.run(Math.min(2_000, opts.posts));

    const samples = new Map<string, Measured[]>(paths.map((p) => [p.key, []]));
    for (let round = 0; round < opts.rounds; round++) {
      for (const p of paths) {
        const m = await measure(() => p.run(opts.posts), sinkCpu);
        samples.get(p.key)!.push(m);
        log(
          `  cost: round ${round + 1}/${opts.rounds} ${p.key}: ${m.usPerPost.toFixed(1)} µs/post, ${Math.round(m.postsPerSecond)} posts/s`,
        );
      }
    }
    // Breakdown: what the signature costs alone, and what the worker's machinery (sweep, cursors,
    // pacer, in-flight bookkeeping) adds per post when the transport costs nothing but a 1 ms wait.
    const signOnly = await measure(async () => {
      for (let i = 0; i < opts.posts; i++) await signed.sign(`/@connections/${ids[i]!}`, payload);
      return { posts: opts.posts, failures: 0 };
    }, sinkCpu);
    const idle: ConnectionGateway = { post: () => sleep(1, 'ok' as const) };
    const loopIdle = await measure(() => drive(viaGateway(idle), ids, opts.posts, opts.inFlight), sinkCpu);
    const workerIdle = await measure(() => worker(idle)(opts.posts), sinkCpu);
    agent.destroy();
    signed.destroy();
    management.destroy();

    // Each round's ratio to the bare request measured moments before it: the host's drift (±30%
    // here from one minute to the next) cancels out better than in a ratio of medians.
    const bareRounds = samples.get('bare')!;
    const result = paths.map((p) => {
      const s = samples.get(p.key)!;
      return {
        xBare: median(s.map((m, i) => m.usPerPost / bareRounds[i]!.usPerPost)),
        key: p.key,
        label: p.label,
        usPerPost: median(s.map((m) => m.usPerPost)),
        sinkUsPerPost: median(s.map((m) => m.sinkUsPerPost)),
        postsPerSecond: median(s.map((m) => m.postsPerSecond)),
        failures: s.reduce((a, m) => a + m.failures, 0),
        rounds: s.map((m) => Math.round(m.usPerPost * 10) / 10),
      };
    });
    const base = result[0]!.usPerPost;
    const get = (key: string) => result.find((r) => r.key === key)!;
    const table: Table = {
      title: `Cost per delivered post (CPU of this process; ${opts.posts.toLocaleString('en-US')} posts × ${opts.rounds} rounds, ${opts.inFlight} in flight, median round)`,
      columns: [
        'path',
        'µs CPU/post',
        'rounds min–max',
        '× bare (per round)',
        'posts/s (one thread)',
        'sink µs/post',
        'failed',
      ],
      rows: result.map((r) => [
        r.label,
        r.usPerPost.toFixed(1),
        `${Math.min(...r.rounds).toFixed(0)}–${Math.max(...r.rounds).toFixed(0)}`,
        r.xBare.toFixed(2),
        Math.round(r.postsPerSecond),
        r.sinkUsPerPost.toFixed(1),
        r.failures,
      ]),
      notes: [
        'sink µs/post: CPU of the sink process (the local management API answering the call) per post — the server half of every delivery in the local stage.',
        `A JS thread spending c µs per post tops out at 1e6/c posts/s: bare ${Math.round(1e6 / base).toLocaleString('en-US')}/s, worker+signed ${Math.round(1e6 / get('workerSigned').usPerPost).toLocaleString('en-US')}/s, worker+SDK ${Math.round(1e6 / get('workerSdk').usPerPost).toLocaleString('en-US')}/s.`,
      ],
    };
    const breakdown: Table = {
      title: "Where the worker path's CPU goes (µs per post)",
      columns: ['part', 'µs CPU/post'],
      rows: [
        ['bare kept-alive http.request (the floor)', base.toFixed(1)],
        ['SignedPoster.sign() alone (SigV4 headers)', signOnly.usPerPost.toFixed(1)],
        ['SignedPoster.post − bare request', (get('signed').usPerPost - base).toFixed(1)],
        [
          `delivery worker machinery (${opts.inFlight} in flight, transport = a 1 ms timer)`,
          (workerIdle.usPerPost - loopIdle.usPerPost).toFixed(1),
        ],
        [
          'worker + SignedPoster − SignedPoster alone',
          (get('workerSigned').usPerPost - get('signed').usPerPost).toFixed(1),
        ],
      ],
    };
    const workerRatio = get('workerSigned').xBare;
    const posterRatio = get('signed').xBare;
    const targets: Target[] = [
      {
        scenario: 'cost',
        name: 'worker path (signed poster) CPU per post',
        target: '≤ 1.5× bare http.request',
        measured: `${workerRatio.toFixed(2)}× (median per-round ratio; medians ${get('workerSigned').usPerPost.toFixed(1)} vs ${base.toFixed(1)} µs)`,
        met: workerRatio <= 1.5,
      },
      {
        scenario: 'cost',
        name: 'signed poster alone CPU per post',
        target: '≤ 1.5× bare http.request',
        measured: `${posterRatio.toFixed(2)}× (median per-round ratio; medians ${get('signed').usPerPost.toFixed(1)} vs ${base.toFixed(1)} µs)`,
        met: posterRatio <= 1.5,
      },
    ];
    return {
      name: 'cost',
      tables: [table, breakdown],
      targets,
      data: {
        options: opts,
        paths: result,
        breakdown: { signUs: signOnly.usPerPost, loopIdleUs: loopIdle.usPerPost, workerIdleUs: workerIdle.usPerPost },
      },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await sink.call('stop').catch(() => {});
    await sink.stop();
  }
}
