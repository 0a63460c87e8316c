// `npm run simulate`: plays the sweetfish festival's opening ceremony against the running local
// stage (`npm start`): a reporter with about 40 moments (and a correction), 1,000 real WebSocket
// viewers (each with its own viewer id, from addresses on 20 networks and one venue Wi-Fi address:
// scripts/audience.ts), a trickle of reposts and a storm on the key moment; some moments carry photos
// (real PNGs made here, uploaded through the real presigned POST). Shows progress, ends with a summary,
// and exits non-zero if an update was lost or duplicated or a repost miscounted.
//
//   npm run simulate [-- --viewers N] [--pace MS]    (or SIM_VIEWERS, SIM_PACE_MS)
//
// Finds the stage through .data/running.json (written by npm start), or LIVECAST_HTTP_URL,
// LIVECAST_WS_URL and LIVECAST_ADMIN_KEY.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { describeSeats, newIdStats, seats, viewerId } from './audience';
import { MOMENTS } from './ceremony';
import { png } from './lib/png';
import { uploadPhoto } from './lib/photo-upload';

interface StageInfo {
  httpUrl: string;
  wsUrl: string;
  adminKey: string;
}

type Frame = { type: string; [k: string]: unknown };

function args(): { viewers: number; paceMs: number } {
  const argv = process.argv.slice(2);
  const flag = (name: string, env: string, fallback: number) => {
    const i = argv.indexOf(name);
    const raw = i >= 0 ? argv[i + 1] : process.env[env];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`simulate: ${name} takes a positive whole number, got ${raw}`);
      process.exit(2);
    }
    return n;
  };
  if (argv.includes('--help')) {
    console.log(
      'usage: npm run simulate [-- --viewers N (default 1000)] [--pace MS between moments (default 400)]\n' +
        '       npm run simulate -- --chaos [--viewers N (default 200)] [--pace MS]   (a stage of its own, with faults; see scripts/chaos.ts)',
    );
    process.exit(0);
  }
  return { viewers: flag('--viewers', 'SIM_VIEWERS', 1_000), paceMs: flag('--pace', 'SIM_PACE_MS', 400) };
}

function stageInfo(): StageInfo {
  const { LIVECAST_HTTP_URL: httpUrl, LIVECAST_WS_URL: wsUrl, LIVECAST_ADMIN_KEY: adminKey } = process.env;
  if (httpUrl && wsUrl && adminKey) return { httpUrl, wsUrl, adminKey };
  const file = join(resolve(process.env.LIVECAST_DATA_DIR ?? '.data'), 'running.json');
  if (!existsSync(file)) {
    console.error(
      'simulate: no running livecast found. Start it first with `npm start` (in another terminal),\n' +
        `or set LIVECAST_HTTP_URL, LIVECAST_WS_URL and LIVECAST_ADMIN_KEY. (Looked for ${file}.)`,
    );
    process.exit(2);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as StageInfo;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const flatten = (f: Frame): Frame[] => (f.type === 'batch' ? (f.frames as Frame[]) : [f]);

class Refused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused: HTTP ${status}`);
  }
}

/** A WebSocket that collects frames and lets callers wait for one. */
class Client {
  readonly frames: Frame[] = [];
  private waiters = new Set<() => void>();
  onFrame?: (f: Frame) => void;
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      for (const f of flatten(JSON.parse(data.toString('utf8')) as Frame)) {
        this.onFrame?.(f);
        this.frames.push(f);
      }
      for (const w of this.waiters) w();
    });
  }
  /** Opens a socket; a handshake refused for load (429, 503) is retried with full-jitter backoff, as viewers' pages do. */
  static async open(url: string, localAddress?: string): Promise<Client> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await Client.openOnce(url, localAddress);
      } catch (err) {
        if (!(err instanceof Refused) || (err.status !== 429 && err.status !== 503) || attempt >= 10) throw err;
        await sleep(Math.random() * Math.min(15_000, 500 * 2 ** attempt));
      }
    }
  }
  private static openOnce(url: string, localAddress?: string): Promise<Client> {
    return new Promise((res, rej) => {
      // `localAddress` (passed on to http.request): the phone's own source address.
      const s = new WebSocket(url, { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
      s.once('open', () => res(new Client(s)));
      s.once('unexpected-response', (_q, r) => {
        r.resume();
        s.terminate();
        rej(new Refused(r.statusCode ?? 0));
      });
      s.once('error', rej);
    });
  }
  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }
  /** The first frame at or after index `from` that matches (received before the call or after). */
  next(match: (f: Frame) => boolean, from = 0, timeoutMs = 30_000): Promise<Frame> {
    return new Promise((res, rej) => {
      let seen = from;
      const check = () => {
        for (; seen < this.frames.length; seen++) {
          if (match(this.frames[seen]!)) {
            this.waiters.delete(check);
            clearTimeout(timer);
            res(this.frames[seen]!);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        rej(new Error('timed out waiting for a frame'));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
  close(): void {
    this.socket.terminate();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  if (process.argv.includes('--chaos')) {
    // Its own stage: the faults, the kills and the DynamoDB restart need a stage this process controls.
    const { runChaos } = await import('./chaos');
    const chaosViewers = process.argv.includes('--viewers') || process.env.SIM_VIEWERS ? args().viewers : 200;
    process.exit(
      await runChaos({
        viewers: chaosViewers,
        paceMs: args().paceMs,
        faultShare: 0.05,
        killEveryMs: 4_000,
        seed: Number(process.env.LIVECAST_FAULT_SEED ?? Date.now() % 100_000),
      }),
    );
  }
  const { viewers: viewerCount, paceMs } = args();
  const stage = stageInfo();
  const json = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${stage.httpUrl}${path}`, init);
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };

  const event = (await json('/events', {
    method: 'POST',
    headers: { authorization: `Bearer ${stage.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'Sweetfish Festival — Opening Ceremony (simulated)',
      startsAt: new Date().toISOString(),
    }),
  })) as { eventId: string; operatorToken: string };
  const viewerUrl = `${stage.wsUrl}/?eventId=${encodeURIComponent(event.eventId)}`;
  console.log(
    `simulate: event ${event.eventId} — ${MOMENTS.length} moments, ${viewerCount.toLocaleString('en-US')} viewers`,
  );
  console.log(`  watch it:  ${stage.httpUrl}/events/${event.eventId}/timeline\n`);

  // Viewers: each keeps the latest rev per seq, and when each (seq, rev) first arrived.
  const received: Map<number, number>[] = [];
  // What each viewer's page would show: live repost counts (from stats) and whether a spike was announced.
  const liveCounts: Map<string, number>[] = [];
  const spikeSeen: boolean[] = [];
  let statsFrames = 0;
  const firstSeen = new Map<string, number[]>(); // "seq.rev" → receipt times
  let duplicates = 0;
  const viewers: Client[] = [];
  const audience = seats(viewerCount);
  const ids = newIdStats();
  const t0 = performance.now();
  for (let i = 0; i < viewerCount; i += 50) {
    // Each phone gets its viewer id (POST /viewers) and connects with it, both from its own address.
    const batch = await Promise.all(
      audience.slice(i, i + 50).map(async ({ localAddress }) => {
        const id = await viewerId(stage.httpUrl, localAddress, ids);
        return Client.open(id ? `${viewerUrl}&viewer=${encodeURIComponent(id)}` : viewerUrl, localAddress);
      }),
    );
    for (const v of batch) {
      const mine = new Map<number, number>();
      const counts = new Map<string, number>();
      const index = received.length;
      received.push(mine);
      liveCounts.push(counts);
      spikeSeen.push(false);
      v.onFrame = (f) => {
        if (f.type === 'stats') {
          statsFrames++;
          for (const [seq, n] of Object.entries(f.reposts as Record<string, number>)) counts.set(seq, n);
          return;
        }
        if (f.type === 'spike') spikeSeen[index] = true;
        if (f.type !== 'update') return;
        const entry = f.entry as { seq: number; rev: number };
        const had = mine.get(entry.seq) ?? 0;
        if (entry.rev <= had) {
          duplicates++;
          return;
        }
        mine.set(entry.seq, entry.rev);
        const key = `${entry.seq}.${entry.rev}`;
        const list = firstSeen.get(key) ?? [];
        list.push(performance.now());
        firstSeen.set(key, list);
      };
      viewers.push(v);
    }
    process.stdout.write(
      `\r  connecting viewers… ${viewers.length.toLocaleString('en-US')}/${viewerCount.toLocaleString('en-US')}`,
    );
  }
  process.stdout.write(
    `\r  ${viewers.length.toLocaleString('en-US')} viewers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );

  const reporter = await Client.open(`${viewerUrl}&token=${encodeURIComponent(event.operatorToken)}`);
  const publishedAt = new Map<string, number>(); // "seq.rev" → when the reporter sent it
  const expected = new Map<number, number>(); // seq → final rev
  let repostsAcked = 0;
  let repostsCounted = 0;
  const countedBySeq = new Map<number, number>();
  let keySeq = 0;

  let repostNo = 0;
  let repostsLimited = 0;
  const repost = async (v: Client, seq: number) => {
    let ack: Frame;
    for (;;) {
      // Its own clientId: two reposts of one entry by one viewer in flight at once each get their answer.
      const clientId = `r${++repostNo}`;
      v.send({ action: 'repost', seq, clientId });
      const answer = await v.next((f) => (f.type === 'ack' || f.type === 'error') && f.clientId === clientId);
      if (answer.type === 'ack') {
        ack = answer;
        break;
      }
      // Over the connection's allowance: nothing was counted; a well-behaved client waits it out and goes again.
      if (answer.code !== 'rate_limited')
        throw new Error(`repost of #${seq} refused: ${String(answer.code)} ${String(answer.message)}`);
      repostsLimited++;
      await sleep(Number(answer.retryAfterMs ?? 1_000) + Math.random() * 250);
    }
    repostsAcked++;
    if (ack.counted) {
      repostsCounted++;
      countedBySeq.set(seq, (countedBySeq.get(seq) ?? 0) + 1);
    }
  };
  const pending: Promise<void>[] = [];

  const progress = () => {
    let delivered = 0;
    for (const m of received) delivered += m.size;
    process.stdout.write(
      `\r  published ${expected.size}/${MOMENTS.length} · viewers hold ${delivered.toLocaleString('en-US')}/${(viewers.length * expected.size).toLocaleString('en-US')} entries · reposts ${repostsAcked.toLocaleString('en-US')} acked   `,
    );
  };
  const ticker = setInterval(progress, 250);

  const photoSeqs = new Map<number, number>(); // seq → photos published with it
  let photoBytes = 0;
  for (const [i, moment] of MOMENTS.entries()) {
    const clientId = `sim-${i}`;
    // The photos first, as the console does: an update is published once its photos are stored.
    const images: { imageId: string; alt: string }[] = [];
    for (const [k, alt] of (moment.photos ?? []).entries()) {
      // Landscape and portrait, a tint of its own: 4:3 at 320 px, as a phone's photo shrunk a lot.
      const bytes = k % 2 === 0 ? png(320, 240, (i * 37 + k * 71) % 256) : png(240, 320, (i * 37 + k * 71) % 256);
      photoBytes += bytes.length;
      images.push({ imageId: (await uploadPhoto(stage.httpUrl, event, bytes, 'image/png')).imageId, alt });
    }
    const sentAt = performance.now();
    reporter.send({
      action: 'publish',
      clientId,
      text: moment.text,
      kind: moment.key ? 'key' : 'text',
      ...(images.length ? { images } : {}),
    });
    const ack = await reporter.next((f) => (f.type === 'ack' || f.type === 'error') && f.clientId === clientId);
    if (ack.type === 'error')
      throw new Error(`publish of moment ${i} refused: ${String(ack.code)} ${String(ack.message)}`);
    const seq = ack.seq as number;
    if (images.length) photoSeqs.set(seq, images.length);
    publishedAt.set(`${seq}.1`, sentAt);
    expected.set(seq, 1);
    if (moment.key && keySeq === 0) {
      keySeq = seq;
      // The storm: every viewer reposts the ribbon-cutting within about two seconds.
      for (const v of viewers) pending.push(sleep(Math.random() * 2_000).then(() => repost(v, seq)));
    } else if (i > 0) {
      // The trickle: a few viewers repost an earlier moment.
      for (let k = 0; k < Math.max(1, Math.round(viewers.length * 0.01)); k++) {
        const v = viewers[Math.floor(Math.random() * viewers.length)]!;
        pending.push(repost(v, 1 + Math.floor(Math.random() * seq)));
      }
    }
    if (i === 4) {
      // A correction: the reporter fixes a detail of an earlier update.
      const editSentAt = performance.now();
      reporter.send({
        action: 'edit',
        clientId: 'sim-edit',
        seq: 3,
        text: 'The township band takes its place on the stage by the NEW stone bridge (correction).',
      });
      const edit = await reporter.next((f) => f.type === 'ack' && f.clientId === 'sim-edit');
      publishedAt.set(`3.${edit.rev as number}`, editSentAt);
      expected.set(3, edit.rev as number);
    }
    await sleep(paceMs);
  }
  await Promise.all(pending);

  // Wait for every viewer to hold every entry at its final rev.
  const complete = () => received.every((m) => [...expected].every(([seq, rev]) => m.get(seq) === rev));
  const deadline = Date.now() + 60_000;
  while (!complete() && Date.now() < deadline) await sleep(100);
  clearInterval(ticker);
  progress();
  process.stdout.write('\n');

  // Counts: the tally runs a moment behind; wait until the totals stop moving (bounded).
  let counts: {
    total: number;
    spikes: {
      startedAt: number;
      endedAt: number | null;
      peakPerSecond: number;
      baselinePerSecond: number;
      total: number;
      topSeq: number;
    }[];
  } = { total: -1, spikes: [] };
  let timeline: { items: { seq: number; reposts: number }[] } = { items: [] };
  for (const until = Date.now() + 30_000; Date.now() < until; await sleep(500)) {
    counts = await json(`/events/${event.eventId}/reposts?bucket=1`);
    timeline = await json(`/events/${event.eventId}/timeline?limit=500`);
    if (counts.total === repostsCounted && counts.spikes.every((s) => s.endedAt !== null) && counts.spikes.length > 0)
      break;
  }

  // Live counts reach the pages a moment after the totals are final (stats go out once a second).
  const keyTotal = () => timeline.items.find((e) => e.seq === keySeq)?.reposts ?? -1;
  const liveOk = () => liveCounts.filter((m) => m.get(String(keySeq)) === keyTotal()).length;
  for (
    const until = Date.now() + 15_000;
    Date.now() < until && (liveOk() < viewers.length || spikeSeen.some((s) => !s));
  )
    await sleep(250);

  reporter.close();
  for (const v of viewers) v.close();

  let delivered = 0;
  let missing = 0;
  for (const m of received) for (const [seq, rev] of expected) m.get(seq) === rev ? delivered++ : missing++;
  const latencies: number[] = [];
  for (const [key, sent] of publishedAt) for (const at of firstSeen.get(key) ?? []) latencies.push(at - sent);
  latencies.sort((a, b) => a - b);
  const perSeqWrong = timeline.items.filter((e) => (countedBySeq.get(e.seq) ?? 0) !== e.reposts);
  const spike = counts.spikes.find((s) => s.topSeq === keySeq);
  const photos = await checkPhotos(stage.httpUrl, event.eventId, photoSeqs);

  const rows: [string, string, boolean][] = [
    ['viewers and where they are', `${viewers.length.toLocaleString('en-US')} from ${describeSeats(audience)}`, true],
    [
      'viewer ids (POST /viewers)',
      `${ids.issued.toLocaleString('en-US')} issued, ${ids.rateLimited} answered 429 and asked again after retryAfterMs, ${ids.retried} retried after 5xx, ${ids.withoutId} connected without one`,
      true,
    ],
    ['updates published (incl. 1 correction)', `${MOMENTS.length} + 1`, true],
    [
      '(viewer, entry) pairs delivered at their final rev',
      `${delivered.toLocaleString('en-US')} / ${(viewers.length * expected.size).toLocaleString('en-US')}`,
      missing === 0,
    ],
    ['duplicates or stale revs received', `${duplicates}`, true],
    [
      'publish → receipt p50 / p99',
      `${percentile(latencies, 50).toFixed(0)} ms / ${percentile(latencies, 99).toFixed(0)} ms`,
      true,
    ],
    [
      'reposts acked / counted by the server',
      `${repostsAcked.toLocaleString('en-US')} / ${repostsCounted.toLocaleString('en-US')} (${repostsLimited} refused rate_limited, sent again after retryAfterMs)`,
      true,
    ],
    ['reposts in GET /reposts total', `${counts.total.toLocaleString('en-US')}`, counts.total === repostsCounted],
    [
      'photos (uploaded through the presigned POST, published with their moment)',
      `${photos.published} on ${photoSeqs.size} updates (${(photoBytes / 1024).toFixed(0)} KB); in the timeline with their size: ${photos.inTimeline}; served as image/*: ${photos.served}`,
      photos.inTimeline === photos.published && photos.served === photos.published,
    ],
    ['entries whose timeline count is off', `${perSeqWrong.length}`, perSeqWrong.length === 0],
    [
      'pages whose live count of the key moment is final',
      `${liveOk().toLocaleString('en-US')} / ${viewers.length.toLocaleString('en-US')} (${statsFrames.toLocaleString('en-US')} stats frames in all)`,
      liveOk() === viewers.length,
    ],
    [
      'pages told of the spike (spike frame)',
      `${spikeSeen.filter(Boolean).length.toLocaleString('en-US')} / ${viewers.length.toLocaleString('en-US')}`,
      spikeSeen.every(Boolean),
    ],
    [
      'spikes recorded',
      `${counts.spikes.length}${spike ? ` (key moment #${keySeq}: peak ${spike.peakPerSecond}/s over a baseline of ${spike.baselinePerSecond}/s, ${spike.total} reposts, ${((spike.endedAt ?? 0) - spike.startedAt) / 1000} s)` : ''}`,
      !!spike,
    ],
  ];
  console.log('\n| what | result | ok |\n|:--|:--|:--|');
  for (const [what, result, ok] of rows) console.log(`| ${what} | ${result} | ${ok ? 'yes' : 'NO'} |`);
  const failed = rows.filter(([, , ok]) => !ok);
  if (failed.length > 0) {
    console.error(`\nsimulate: FAILED — ${failed.map(([w]) => w).join('; ')}`);
    process.exit(1);
  }
  console.log('\nsimulate: everything delivered once, every repost counted, the storm recorded as a spike.');
  process.exit(0);
}

/** Every published photo is in the timeline with its size and alt text, and its URL serves an image. */
async function checkPhotos(
  httpUrl: string,
  eventId: string,
  photoSeqs: ReadonlyMap<number, number>,
): Promise<{ published: number; inTimeline: number; served: number }> {
  const res = await fetch(`${httpUrl}/events/${encodeURIComponent(eventId)}/timeline?limit=500`);
  const { items } = (await res.json()) as {
    items: { seq: number; images?: { url: string; width: number; height: number; alt?: string }[] }[];
  };
  let published = 0;
  let inTimeline = 0;
  let served = 0;
  for (const [seq, count] of photoSeqs) {
    published += count;
    const images = items.find((e) => e.seq === seq)?.images ?? [];
    inTimeline += images.filter((im) => im.width > 0 && im.height > 0 && im.alt).length;
    for (const image of images) {
      const got = await fetch(new URL(image.url, httpUrl));
      await got.arrayBuffer();
      if (got.ok && (got.headers.get('content-type') ?? '').startsWith('image/')) served++;
    }
  }
  return { published, inTimeline, served };
}

main().catch((err: unknown) => {
  console.error(`\nsimulate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
