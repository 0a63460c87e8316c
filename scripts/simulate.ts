// `npm run simulate`: plays the sweetfish festival's opening ceremony against the running local
// stage (`npm start`): a reporter with about 40 moments (and a correction), 1,000 real WebSocket
// viewers (each with its own viewer id, from addresses on 20 networks and one venue Wi-Fi address:
// scripts/audience.ts), a trickle of reposts and a storm on the key moment; some moments carry photos
// (real PNGs made here, uploaded through the real presigned POST). Shows progress, ends with a summary,
// and exits non-zero if an update was lost or duplicated or a repost miscounted.
//
//   npm run simulate [-- --viewers N] [--pace MS]    (or SIM_VIEWERS, SIM_PACE_MS; scripts/lib/simulate-settings.ts)
//
// Finds the stage through .data/running.json (written by npm start), or LIVECAST_HTTP_URL,
// LIVECAST_WS_URL and LIVECAST_ADMIN_KEY.
import { type Check, reportChecks } from './lib/checks';
import type { Spike } from '../shared/domain/reposts/spike-detector';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeSeats, newIdStats, type Seat, seats, viewerId } from './audience';
import { MOMENTS } from './ceremony';
import { png } from './lib/png';
import { uploadPhoto } from './lib/photo-upload';
import { Client, type Frame } from './lib/sim-client';
import { SettingsError, simulateSettings, type SimulateSettings, USAGE } from './lib/simulate-settings';

interface StageInfo {
  httpUrl: string;
  wsUrl: string;
  adminKey: string;
}

interface SimEvent {
  eventId: string;
  operatorToken: string;
}

interface RepostTotals {
  total: number;
  spikes: Spike[];
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

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One run against the running stage: the audience, the reporter, and what each side saw. */
class Simulation {
  private readonly viewerUrl: string;
  // Viewers: each keeps the latest rev per seq, and when each (seq, rev) first arrived.
  private readonly received: Map<number, number>[] = [];
  // What each viewer's page would show: live repost counts (from stats) and whether a spike was announced.
  private readonly liveCounts: Map<string, number>[] = [];
  private readonly spikeSeen: boolean[] = [];
  private statsFrames = 0;
  private readonly firstSeen = new Map<string, number[]>(); // "seq.rev" → receipt times
  private duplicates = 0;
  private readonly viewers: Client[] = [];
  private readonly audience: Seat[];
  private readonly ids = newIdStats();

  private readonly publishedAt = new Map<string, number>(); // "seq.rev" → when the reporter sent it
  private readonly expected = new Map<number, number>(); // seq → final rev
  private repostsAcked = 0;
  private repostsCounted = 0;
  private readonly countedBySeq = new Map<number, number>();
  private keySeq = 0;
  private repostNo = 0;
  private repostsLimited = 0;
  private readonly pending: Promise<void>[] = [];
  private readonly photoSeqs = new Map<number, number>(); // seq → photos published with it
  private photoBytes = 0;

  private counts: RepostTotals = { total: -1, spikes: [] };
  private timeline: { items: { seq: number; reposts: number }[] } = { items: [] };

  constructor(
    private readonly stage: StageInfo,
    private readonly event: SimEvent,
    private readonly settings: SimulateSettings,
  ) {
    this.viewerUrl = `${stage.wsUrl}/?eventId=${encodeURIComponent(event.eventId)}`;
    this.audience = seats(settings.viewers);
  }

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${this.stage.httpUrl}${path}`, init);
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<T>;
  }

  /** Plays the ceremony; 0 if everything was delivered once and every repost counted. */
  async run(): Promise<number> {
    await this.connectViewers();
    const reporter = await Client.open(`${this.viewerUrl}&token=${encodeURIComponent(this.event.operatorToken)}`);
    const ticker = setInterval(() => this.progress(), 250);
    await this.publishMoments(reporter);
    await Promise.all(this.pending);

    // Wait for every viewer to hold every entry at its final rev.
    const complete = () => this.received.every((m) => [...this.expected].every(([seq, rev]) => m.get(seq) === rev));
    const deadline = Date.now() + 60_000;
    while (!complete() && Date.now() < deadline) await sleep(100);
    clearInterval(ticker);
    this.progress();
    process.stdout.write('\n');

    await this.settleCounts();
    reporter.close();
    for (const v of this.viewers) v.close();
    return reportChecks(
      'simulate',
      await this.summary(),
      'everything delivered once, every repost counted, the storm recorded as a spike.',
    );
  }

  private async connectViewers(): Promise<void> {
    const viewerCount = this.settings.viewers;
    const t0 = performance.now();
    for (let i = 0; i < viewerCount; i += 50) {
      // Each phone gets its viewer id (POST /viewers) and connects with it, both from its own address.
      const batch = await Promise.all(
        this.audience.slice(i, i + 50).map(async ({ localAddress }) => {
          const id = await viewerId(this.stage.httpUrl, localAddress, this.ids);
          return Client.open(id ? `${this.viewerUrl}&viewer=${encodeURIComponent(id)}` : this.viewerUrl, localAddress);
        }),
      );
      for (const v of batch) this.watch(v);
      process.stdout.write(
        `\r  connecting viewers… ${this.viewers.length.toLocaleString('en-US')}/${viewerCount.toLocaleString('en-US')}`,
      );
    }
    process.stdout.write(
      `\r  ${this.viewers.length.toLocaleString('en-US')} viewers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  }

  /** Keeps what viewer `v`'s page would: entries by (seq, rev), live counts, the spike. */
  private watch(v: Client): void {
    const mine = new Map<number, number>();
    const counts = new Map<string, number>();
    const index = this.received.length;
    this.received.push(mine);
    this.liveCounts.push(counts);
    this.spikeSeen.push(false);
    v.onFrame = (f) => {
      if (f.type === 'stats') {
        this.statsFrames++;
        for (const [seq, n] of Object.entries(f.reposts as Record<string, number>)) counts.set(seq, n);
        return;
      }
      if (f.type === 'spike') this.spikeSeen[index] = true;
      if (f.type !== 'update') return;
      const entry = f.entry as { seq: number; rev: number };
      const had = mine.get(entry.seq) ?? 0;
      if (entry.rev <= had) {
        this.duplicates++;
        return;
      }
      mine.set(entry.seq, entry.rev);
      const key = `${entry.seq}.${entry.rev}`;
      const list = this.firstSeen.get(key) ?? [];
      list.push(performance.now());
      this.firstSeen.set(key, list);
    };
    this.viewers.push(v);
  }

  private async repost(v: Client, seq: number): Promise<void> {
    let ack: Frame;
    for (;;) {
      // Its own clientId: two reposts of one entry by one viewer in flight at once each get their answer.
      const clientId = `r${++this.repostNo}`;
      v.send({ action: 'repost', seq, clientId });
      const answer = await v.next((f) => (f.type === 'ack' || f.type === 'error') && f.clientId === clientId);
      if (answer.type === 'ack') {
        ack = answer;
        break;
      }
      // Over the connection's allowance: nothing was counted; a well-behaved client waits it out and goes again.
      if (answer.code !== 'rate_limited')
        throw new Error(`repost of #${seq} refused: ${String(answer.code)} ${String(answer.message)}`);
      this.repostsLimited++;
      await sleep(Number(answer.retryAfterMs ?? 1_000) + Math.random() * 250);
    }
    this.repostsAcked++;
    if (ack.counted) {
      this.repostsCounted++;
      this.countedBySeq.set(seq, (this.countedBySeq.get(seq) ?? 0) + 1);
    }
  }

  private progress(): void {
    let delivered = 0;
    for (const m of this.received) delivered += m.size;
    process.stdout.write(
      `\r  published ${this.expected.size}/${MOMENTS.length} · viewers hold ${delivered.toLocaleString('en-US')}/${(this.viewers.length * this.expected.size).toLocaleString('en-US')} entries · reposts ${this.repostsAcked.toLocaleString('en-US')} acked   `,
    );
  }

  /** The photos first, as the console does: an update is published once its photos are stored. */
  private async uploadPhotos(i: number, moment: (typeof MOMENTS)[number]): Promise<{ imageId: string; alt: string }[]> {
    const images: { imageId: string; alt: string }[] = [];
    for (const [k, alt] of (moment.photos ?? []).entries()) {
      // Landscape and portrait, a tint of its own: 4:3 at 320 px, as a phone's photo shrunk a lot.
      const bytes = k % 2 === 0 ? png(320, 240, (i * 37 + k * 71) % 256) : png(240, 320, (i * 37 + k * 71) % 256);
      this.photoBytes += bytes.length;
      images.push({ imageId: (await uploadPhoto(this.stage.httpUrl, this.event, bytes, 'image/png')).imageId, alt });
    }
    return images;
  }

  private async publishMoments(reporter: Client): Promise<void> {
    const { viewers } = this;
    for (const [i, moment] of MOMENTS.entries()) {
      const clientId = `sim-${i}`;
      const images = await this.uploadPhotos(i, moment);
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
      if (images.length) this.photoSeqs.set(seq, images.length);
      this.publishedAt.set(`${seq}.1`, sentAt);
      this.expected.set(seq, 1);
      if (moment.key && this.keySeq === 0) {
        this.keySeq = seq;
        // The storm: every viewer reposts the ribbon-cutting within about two seconds.
        for (const v of viewers) this.pending.push(sleep(Math.random() * 2_000).then(() => this.repost(v, seq)));
      } else if (i > 0) {
        // The trickle: a few viewers repost an earlier moment.
        for (let k = 0; k < Math.max(1, Math.round(viewers.length * 0.01)); k++) {
          const v = viewers[Math.floor(Math.random() * viewers.length)]!;
          this.pending.push(this.repost(v, 1 + Math.floor(Math.random() * seq)));
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
        this.publishedAt.set(`3.${edit.rev as number}`, editSentAt);
        this.expected.set(3, edit.rev as number);
      }
      await sleep(this.settings.paceMs);
    }
  }

  private keyTotal(): number {
    return this.timeline.items.find((e) => e.seq === this.keySeq)?.reposts ?? -1;
  }

  /** Pages whose live count of the key moment is the final one. */
  private liveOk(): number {
    return this.liveCounts.filter((m) => m.get(String(this.keySeq)) === this.keyTotal()).length;
  }

  private async settleCounts(): Promise<void> {
    // Counts: the tally runs a moment behind; wait until the totals stop moving (bounded).
    const { eventId } = this.event;
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(500)) {
      this.counts = await this.json<RepostTotals>(`/events/${eventId}/reposts?bucket=1`);
      this.timeline = await this.json<typeof this.timeline>(`/events/${eventId}/timeline?limit=500`);
      const { counts } = this;
      if (
        counts.total === this.repostsCounted &&
        counts.spikes.every((s) => s.endedAt !== null) &&
        counts.spikes.length > 0
      )
        break;
    }
    // Live counts reach the pages a moment after the totals are final (stats go out once a second).
    for (
      const until = Date.now() + 15_000;
      Date.now() < until && (this.liveOk() < this.viewers.length || this.spikeSeen.some((s) => !s));
    )
      await sleep(250);
  }

  private async summary(): Promise<Check[]> {
    const { viewers, expected, counts, keySeq, ids, photoSeqs } = this;
    let delivered = 0;
    let missing = 0;
    for (const m of this.received)
      for (const [seq, rev] of expected)
        if (m.get(seq) === rev) delivered++;
        else missing++;
    const latencies: number[] = [];
    for (const [key, sent] of this.publishedAt)
      for (const at of this.firstSeen.get(key) ?? []) latencies.push(at - sent);
    latencies.sort((a, b) => a - b);
    const perSeqWrong = this.timeline.items.filter((e) => (this.countedBySeq.get(e.seq) ?? 0) !== e.reposts);
    const spike = counts.spikes.find((s) => s.topSeq === keySeq);
    const photos = await checkPhotos(this.stage.httpUrl, this.event.eventId, photoSeqs);
    const liveOk = this.liveOk();
    return [
      [
        'viewers and where they are',
        `${viewers.length.toLocaleString('en-US')} from ${describeSeats(this.audience)}`,
        true,
      ],
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
      ['duplicates or stale revs received', `${this.duplicates}`, true],
      [
        'publish → receipt p50 / p99',
        `${percentile(latencies, 50).toFixed(0)} ms / ${percentile(latencies, 99).toFixed(0)} ms`,
        true,
      ],
      [
        'reposts acked / counted by the server',
        `${this.repostsAcked.toLocaleString('en-US')} / ${this.repostsCounted.toLocaleString('en-US')} (${this.repostsLimited} refused rate_limited, sent again after retryAfterMs)`,
        true,
      ],
      [
        'reposts in GET /reposts total',
        `${counts.total.toLocaleString('en-US')}`,
        counts.total === this.repostsCounted,
      ],
      [
        'photos (uploaded through the presigned POST, published with their moment)',
        `${photos.published} on ${photoSeqs.size} updates (${(this.photoBytes / 1024).toFixed(0)} KB); in the timeline with their size: ${photos.inTimeline}; served as image/*: ${photos.served}`,
        photos.inTimeline === photos.published && photos.served === photos.published,
      ],
      ['entries whose timeline count is off', `${perSeqWrong.length}`, perSeqWrong.length === 0],
      [
        'pages whose live count of the key moment is final',
        `${liveOk.toLocaleString('en-US')} / ${viewers.length.toLocaleString('en-US')} (${this.statsFrames.toLocaleString('en-US')} stats frames in all)`,
        liveOk === viewers.length,
      ],
      [
        'pages told of the spike (spike frame)',
        `${this.spikeSeen.filter(Boolean).length.toLocaleString('en-US')} / ${viewers.length.toLocaleString('en-US')}`,
        this.spikeSeen.every(Boolean),
      ],
      [
        'spikes recorded',
        `${counts.spikes.length}${spike ? ` (key moment #${keySeq}: peak ${spike.peakPerSecond}/s over a baseline of ${spike.baselinePerSecond}/s, ${spike.total} reposts, ${((spike.endedAt ?? 0) - spike.startedAt) / 1000} s)` : ''}`,
        !!spike,
      ],
    ];
  }
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

function settingsOrExit(): SimulateSettings {
  try {
    const settings = simulateSettings(process.argv.slice(2), process.env);
    if (settings !== 'help') return settings;
    console.log(USAGE);
    process.exit(0);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    console.error(`simulate: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const settings = settingsOrExit();
  if (settings.chaos) {
    // Its own stage: the faults, the kills and the DynamoDB restart need a stage this process controls.
    const { runChaos } = await import('./chaos');
    process.exit(
      await runChaos({
        viewers: settings.viewers,
        paceMs: settings.paceMs,
        faultShare: 0.05,
        killEveryMs: 4_000,
        seed: settings.seed,
      }),
    );
  }
  const stage = stageInfo();
  const res = await fetch(`${stage.httpUrl}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stage.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'Sweetfish Festival — Opening Ceremony (simulated)',
      startsAt: new Date().toISOString(),
    }),
  });
  if (!res.ok) throw new Error(`POST /events: ${res.status} ${await res.text()}`);
  const event = (await res.json()) as SimEvent;
  console.log(
    `simulate: event ${event.eventId} — ${MOMENTS.length} moments, ${settings.viewers.toLocaleString('en-US')} viewers`,
  );
  console.log(`  watch it:  ${stage.httpUrl}/events/${event.eventId}/timeline\n`);
  process.exit(await new Simulation(stage, event, settings).run());
}

main().catch((err: unknown) => {
  console.error(`\nsimulate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
