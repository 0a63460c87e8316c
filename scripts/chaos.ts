// `npm run simulate -- --chaos`: the opening ceremony on a stage of its own, under faults — DynamoDB
// refusing or losing 5% of the handlers' calls (every kind the fault proxy knows, lost answers after
// commit included), delivery workers' processes killed at random, DynamoDB Local killed once in the
// middle (persisted: the supervisor brings it back), viewers' phones dropping and coming back — and
// checks that nothing was lost: every acked update at its final revision with every viewer, shown
// once; every acked repost counted once; every dead-lettered item redriven. Each viewer holds its own
// viewer id and source address (scripts/audience.ts), as phones do. Prints what was injected
// and what survived; exits non-zero if anything did not.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { dynamoFaultKinds } from '../local/dynamo-faults';
import type { DynamoLocalEvent } from '../local/dynamodb-local';
import { stageScriptEnv, startStage, type Stage } from '../local/stage';
import {
  createRedriveClients,
  DynamoStreamReader,
  LambdaInvoker,
  SqsFailureQueue,
} from '../shared/adapters/redrive-aws';
import { loadRedriveConfig } from '../shared/config';
import { backoffMs } from '../shared/retry';
import { redriveQueue, type RedriveOutcome } from '../shared/domain/redrive/redrive';
import { describeSeats, newIdStats, seats, viewerId, type Seat } from './audience';
import { MOMENTS } from './ceremony';

export interface ChaosOptions {
  viewers: number;
  paceMs: number;
  /** Share of the handlers' DynamoDB calls that meet a fault. */
  faultShare: number;
  /** A worker process is killed this often. */
  killEveryMs: number;
  seed: number;
}

type Frame = { type: string; clientId?: string; code?: string; [k: string]: unknown };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const flatten = (f: Frame): Frame[] => (f.type === 'batch' ? (f.frames as Frame[]) : [f]);
/** Waits (polling) until `done` holds or the time is up; says which. */
async function until(done: () => boolean, timeoutMs: number, everyMs = 100): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(everyMs)) if (done()) return true;
  return done();
}

/** A socket that comes back: refused handshakes and drops are retried with jittered backoff, as the pages do. */
abstract class Resilient {
  socket: WebSocket | undefined;
  private waiters = new Set<(f: Frame) => boolean>();
  refused = new Map<number, number>();
  reconnects = 0;
  /** `rate_limited` answers waited out (retryAfterMs) before going again. */
  limited = 0;
  private ended = false;

  /** `localAddress`: the phone's own source address (kept across reconnects, as is the url's viewer id). */
  constructor(
    protected readonly url: string,
    readonly localAddress?: string,
  ) {}

  async open(): Promise<void> {
    for (let attempt = 0; !this.ended; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const s = new WebSocket(this.url, {
            perMessageDeflate: false,
            ...(this.localAddress ? { localAddress: this.localAddress } : {}),
          });
          s.once('open', () => {
            this.socket = s;
            s.on('message', (data: Buffer) => {
              for (const f of flatten(JSON.parse(data.toString('utf8')) as Frame)) {
                this.onFrame(f);
                for (const w of [...this.waiters]) if (w(f)) this.waiters.delete(w);
              }
            });
            s.once('close', () => {
              if (this.socket === s) this.socket = undefined;
              if (!this.ended) {
                this.reconnects++;
                void sleep(backoffMs(1, Math.random, 200, 2_000)).then(() => this.open());
              }
            });
            resolve();
          });
          s.once('unexpected-response', (_q, r) => {
            this.refused.set(r.statusCode ?? 0, (this.refused.get(r.statusCode ?? 0) ?? 0) + 1);
            reject(new Error(`refused ${r.statusCode}`));
          });
          s.once('error', reject);
        });
        this.onOpen();
        return;
      } catch {
        await sleep(backoffMs(Math.min(attempt, 6), Math.random, 200, 5_000));
      }
    }
  }

  protected abstract onFrame(f: Frame): void;
  protected abstract onOpen(): void;

  send(frame: unknown): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** The first frame from now on that matches, or undefined after `timeoutMs`. */
  next(match: (f: Frame) => boolean, timeoutMs: number): Promise<Frame | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter = (f: Frame) => {
        if (!match(f)) return false;
        clearTimeout(timer);
        resolve(f);
        return true;
      };
      this.waiters.add(waiter);
    });
  }

  /** A phone losing its signal: the socket dies without a goodbye; it comes back by itself. */
  drop(): void {
    this.socket?.terminate();
  }

  end(): void {
    this.ended = true;
    this.socket?.terminate();
  }
}

/** A viewer as the live page is: applies updates by (seq, rev), catches up with sync after every (re)connect. */
class Viewer extends Resilient {
  readonly held = new Map<number, { rev: number; deleted: boolean }>();
  /** Frames that brought nothing new (a re-sent delivery, a sync overlapping live frames): harmless, counted. */
  repeats = 0;
  syncs = 0;
  private lastChange = 0;
  private synced = false;
  private dropped = false;
  everDropped = false;

  protected onOpen(): void {
    this.synced = false;
    this.sync();
  }

  private sync(): void {
    // From below any hole, as the page does: seqs are gapless.
    let since = 0;
    while (this.held.has(since + 1)) since++;
    this.syncs++;
    this.send({ action: 'sync', since, ...(this.lastChange > 0 && since > 0 ? { sinceChange: this.lastChange } : {}) });
  }

  protected onFrame(f: Frame): void {
    if (f.type === 'update') {
      const entry = f.entry as { seq: number; rev: number; deleted: boolean };
      const had = this.held.get(entry.seq);
      if (had && had.rev >= entry.rev) this.repeats++;
      else this.held.set(entry.seq, { rev: entry.rev, deleted: entry.deleted });
    } else if (f.type === 'synced') {
      this.synced = true;
      this.lastChange = Math.max(this.lastChange, Number(f.lastChange ?? 0));
      return;
    } else if (f.type === 'error' && f.clientId === undefined && !this.synced) {
      // A catch-up that was throttled or failed part way: ask again in a moment (past the allowance: once it is back).
      if (f.code === 'rate_limited') this.limited++;
      void sleep(Math.max(500 + Math.random() * 1_500, Number(f.retryAfterMs ?? 0))).then(() => this.sync());
      return;
    }
    // Live frames move the change cursor only once this connection's catch-up is in.
    if (this.synced && typeof f.changeNo === 'number') this.lastChange = Math.max(this.lastChange, f.changeNo);
  }

  override drop(): void {
    this.everDropped = true;
    this.dropped = true;
    super.drop();
  }

  /**
   * Reposts `seq` until an ack (counted or not) comes; undefined if it never did. `lostOnDropped`:
   * attempts whose answer never came on a socket that then dropped — the server may have stored
   * them. With a viewer id that matters only for a final refusal (the entry deleted meanwhile): an
   * ack means this viewer's repost is stored, once, whichever attempt stored it.
   */
  async repost(seq: number, id: string): Promise<{ answer: 'ack' | 'refused'; lostOnDropped: number } | undefined> {
    // As the page's button stays pending: tried again (a dropped socket, DynamoDB away) for up to 90 s.
    const end = Date.now() + 90_000;
    const unanswered = new Set<WebSocket>();
    for (let attempt = 1; Date.now() < end; attempt++) {
      const clientId = `${id}-${attempt}`;
      const socket = this.socket;
      const sent = this.send({ action: 'repost', seq, clientId });
      const answer = sent ? await this.next((f) => f.clientId === clientId, 10_000) : undefined;
      if (sent && socket && !answer) unanswered.add(socket);
      if (answer?.type === 'ack') {
        unanswered.delete(this.socket!);
        return { answer: 'ack', lostOnDropped: unanswered.size };
      }
      // A deleted (conflict) or unknown entry: a final answer, the page shows it and stops. (An
      // earlier attempt on a dropped phone may still have been stored: the service trusts an entry it
      // saw alive for a second.)
      if (
        answer?.type === 'error' &&
        (answer.code === 'conflict' || answer.code === 'not_found' || answer.code === 'bad_request')
      ) {
        unanswered.delete(this.socket!);
        return { answer: 'refused', lostOnDropped: unanswered.size };
      }
      if (answer?.code === 'rate_limited') this.limited++;
      // Never sooner than the server asked (a refused repost counted nothing).
      await sleep(
        Math.max(backoffMs(Math.min(attempt, 5), Math.random, 200, 3_000), Number(answer?.retryAfterMs ?? 0)),
      );
    }
    return undefined;
  }
}

/** The reporter as the console is: one write at a time, re-sent with the same clientId until acked. */
class Reporter extends Resilient {
  errors = new Map<string, number>();
  resends = 0;
  protected onOpen(): void {}
  protected onFrame(): void {}

  async write(frame: { action: string; clientId: string; [k: string]: unknown }): Promise<Frame> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.resends++;
      if (attempt >= 40) throw new Error(`${frame.action} ${frame.clientId} was never acked`);
      const answer = this.send(frame) ? await this.next((f) => f.clientId === frame.clientId, 10_000) : undefined;
      if (answer?.type === 'ack') return answer;
      if (answer?.type === 'error') {
        this.errors.set(String(answer.code), (this.errors.get(String(answer.code)) ?? 0) + 1);
        if (answer.code === 'bad_request' || answer.code === 'forbidden' || answer.code === 'not_found')
          throw new Error(`${frame.action} refused: ${answer.message}`);
      }
      await sleep(
        Math.max(backoffMs(Math.min(attempt, 5), Math.random, 200, 3_000), Number(answer?.retryAfterMs ?? 0)),
      );
    }
  }
}

async function http<T>(url: string, init?: RequestInit): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, init).catch(() => undefined);
    if (res?.ok) return (await res.json()) as T;
    // 5xx and 429 while DynamoDB is down or throttled: the caller's retry, with backoff.
    if (attempt >= 30 || (res && res.status < 500 && res.status !== 429))
      throw new Error(`${init?.method ?? 'GET'} ${url}: ${res?.status ?? 'no answer'}`);
    await sleep(backoffMs(Math.min(attempt, 5), Math.random, 200, 3_000));
  }
}

/** Replays both failure queues until they stay empty; what was replayed. */
async function redriveAll(stage: Stage): Promise<RedriveOutcome[]> {
  const config = loadRedriveConfig(stageScriptEnv(stage));
  const clients = createRedriveClients(config);
  try {
    const all: RedriveOutcome[] = [];
    for (const url of [stage.failureQueues.streams, stage.failureQueues.worker]) {
      all.push(
        ...(await redriveQueue(
          new SqsFailureQueue(clients.sqs, url),
          new DynamoStreamReader(clients.streams),
          new LambdaInvoker(clients.lambda),
        )),
      );
    }
    return all;
  } finally {
    clients.destroy();
  }
}

export async function runChaos(opts: ChaosOptions): Promise<number> {
  // The worker processes inherit this: the SDK's Node 22 notice once per process is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dir = mkdtempSync(join(tmpdir(), 'livecast-chaos-'));
  const adminKey = randomBytes(16).toString('hex');
  const dynamoEvents: DynamoLocalEvent[] = [];
  const stage = await startStage({
    httpPort: 0,
    wsPort: 0,
    // Persisted, so DynamoDB Local can be killed and brought back with its data.
    dynamo: { port: 0, dbPath: join(dir, 'dynamodb') },
    adminKey,
    logLevel: 'silent',
    workerProcesses: 2,
    faults: {
      dynamo: { share: opts.faultShare, kinds: dynamoFaultKinds, holdMs: 2_000, seed: opts.seed },
      killWorkersEveryMs: opts.killEveryMs,
    },
    // The watchdog and the spike sweep every few seconds instead of every minute.
    scheduleEveryMs: 5_000,
    env: { LIVECAST_WORKER_IDLE_MS: '3000', LIVECAST_SPIKE_SWEEP_QUIET_MS: '5000' },
    onDynamo: (event) => dynamoEvents.push(event),
    log: () => {},
  });
  let viewers: Viewer[] = [];
  let reporter: Reporter | undefined;
  try {
    const event = await http<{ eventId: string; operatorToken: string }>(`${stage.httpUrl}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: '香鱼节开幕式（混沌演练）' }),
    });
    const viewerUrl = `${stage.wsUrl}/?eventId=${event.eventId}`;
    console.log(
      `chaos: event ${event.eventId}, ${opts.viewers} viewers, faults on ${(opts.faultShare * 100).toFixed(0)}% of DynamoDB calls, a worker killed every ${opts.killEveryMs} ms`,
    );

    // Each phone: its own address, and a viewer id from POST /viewers (sent from that address) it
    // keeps across reconnects; a repost counts once per id, whichever connection carried it.
    const audience: Seat[] = seats(opts.viewers);
    const ids = newIdStats();
    /** Who each viewer counts as: its id, or (none issued) its address. */
    const voters: string[] = [];
    for (let i = 0; i < audience.length; i += 50) {
      const batch = await Promise.all(
        audience.slice(i, i + 50).map(async ({ localAddress }, k) => {
          const id = await viewerId(stage.httpUrl, localAddress, ids);
          voters[i + k] = id ?? localAddress;
          return new Viewer(id ? `${viewerUrl}&viewer=${encodeURIComponent(id)}` : viewerUrl, localAddress);
        }),
      );
      viewers.push(...batch);
      await Promise.all(batch.map((v) => v.open()));
    }
    reporter = new Reporter(`${viewerUrl}&token=${encodeURIComponent(event.operatorToken)}`);
    await reporter.open();
    console.log('  viewers connected; the ceremony starts');

    const expected = new Map<number, number>(); // seq → final rev
    const reposts: Promise<void>[] = [];
    /** Per seq, the voters whose repost was acked: each must be counted exactly once. */
    const acked = new Map<number, Set<string>>();
    /** Per seq, voters refused (deleted entry) after an attempt lost on a dropped phone: may be counted once. */
    const uncertain = new Map<number, Set<string>>();
    const add = (m: Map<number, Set<string>>, seq: number, voter: string) =>
      m.set(seq, (m.get(seq) ?? new Set()).add(voter));
    let repostsAcked = 0;
    let repostsNeverAcked = 0;
    /** Reposts of the entry the reporter deleted: refused (conflict), as they must be. */
    let repostsRefused = 0;
    let repostNo = 0;
    const repost = (vi: number, seq: number) =>
      reposts.push(
        viewers[vi]!.repost(seq, `r${++repostNo}`).then((r) => {
          if (!r) return void repostsNeverAcked++;
          if (r.answer === 'refused') {
            if (r.lostOnDropped > 0) add(uncertain, seq, voters[vi]!);
            return void repostsRefused++;
          }
          repostsAcked++;
          add(acked, seq, voters[vi]!);
        }),
      );
    const reposted = new Set<string>();
    const repostOnce = (vi: number, seq: number) => {
      if (reposted.has(`${vi}:${seq}`)) return;
      reposted.add(`${vi}:${seq}`);
      repost(vi, seq);
    };

    let dynamoKilledAt = 0;
    let drops = 0;
    const write = async (frame: { action: string; clientId: string; [k: string]: unknown }) => {
      const ack = await reporter!.write(frame);
      expected.set(Number(ack.seq), Math.max(expected.get(Number(ack.seq)) ?? 0, Number(ack.rev)));
      return ack;
    };
    for (const [i, moment] of MOMENTS.entries()) {
      const ack = await write({
        action: 'publish',
        clientId: `m${i}`,
        text: moment.text,
        kind: moment.key ? 'key' : 'text',
      });
      const seq = Number(ack.seq);
      if (moment.key)
        for (let vi = 0; vi < viewers.length; vi += 2) repostOnce(vi, seq); // a storm: half the audience
      else repostOnce(Math.floor(Math.random() * viewers.length), 1 + Math.floor(Math.random() * seq));
      if (i === 6)
        await write({
          action: 'edit',
          clientId: 'fix-3',
          seq: 3,
          text: 'The township band takes its place by the NEW stone bridge (correction).',
        });
      if (i === 12) await write({ action: 'delete', clientId: 'del-5', seq: 5 });
      if (i === 16) await write({ action: 'pin', clientId: 'pin-14', seq: 14, pinned: true });
      // Phones drop and come back all through the ceremony.
      if (i % 4 === 2)
        for (let k = 0; k < Math.max(1, Math.round(viewers.length * 0.03)); k++, drops++)
          viewers[Math.floor(Math.random() * viewers.length)]!.drop();
      if (i === Math.floor(MOMENTS.length / 2)) {
        const pid = stage.dynamo?.pid();
        if (pid) {
          dynamoKilledAt = Date.now();
          process.kill(pid, 'SIGKILL');
          console.log('  DynamoDB Local killed mid-ceremony');
        }
      }
      await sleep(opts.paceMs);
    }
    await Promise.all(reposts);
    console.log('  ceremony over; waiting for delivery and counts, redriving the failure queues');

    const missing = () => {
      let n = 0;
      for (const v of viewers) for (const [seq, rev] of expected) if (v.held.get(seq)?.rev !== rev) n++;
      return n;
    };
    // Live delivery (and the reconnects' catch-ups) first; then whatever the failure queues hold is
    // redriven, and delivery given the time again.
    const redriven: RedriveOutcome[] = [];
    let deliveredLive = await until(() => missing() === 0, 60_000, 250);
    for (let round = 0; round < 6; round++) {
      const outcomes = await redriveAll(stage);
      redriven.push(...outcomes);
      if (outcomes.length === 0 && missing() === 0) break;
      deliveredLive = await until(() => missing() === 0, 20_000, 250);
    }

    // Counts: the tally may have dead-lettered batches (redriven above); wait for the totals to settle.
    const ackedOf = (seq: number) => acked.get(seq)?.size ?? 0;
    const uncertainOf = (seq: number) => [...(uncertain.get(seq) ?? [])].filter((v) => !acked.get(seq)?.has(v)).length;
    const expectedTotal = [...acked.keys()].reduce((n, seq) => n + ackedOf(seq), 0);
    const uncertainTotal = [...uncertain.keys()].reduce((n, seq) => n + uncertainOf(seq), 0);
    /** Every acked (voter, seq) counted once; beyond that only a refused one a dropped connection may have stored. */
    const countOk = (seq: number, counted: number) =>
      counted >= ackedOf(seq) && counted <= ackedOf(seq) + uncertainOf(seq);
    let total = -1;
    let wrongSeqs: number[] = [];
    let spikes: { topSeq: number; peakPerSecond: number }[] = [];
    const countedBySeq = new Map<number, number>();
    for (const end = Date.now() + 60_000; Date.now() < end; await sleep(1_000)) {
      const counts = await http<{ total: number; spikes: { topSeq: number; peakPerSecond: number }[] }>(
        `${stage.httpUrl}/events/${event.eventId}/reposts?bucket=60`,
      );
      total = counts.total;
      spikes = counts.spikes;
      const timeline = await http<{ items: { seq: number; reposts: number }[] }>(
        `${stage.httpUrl}/events/${event.eventId}/timeline?limit=500`,
      );
      for (const e of timeline.items) countedBySeq.set(e.seq, e.reposts);
      wrongSeqs = timeline.items.filter((e) => !countOk(e.seq, e.reposts)).map((e) => e.seq);
      if (total >= expectedTotal && total <= expectedTotal + uncertainTotal && wrongSeqs.length === 0) break;
      redriven.push(...(await redriveAll(stage)));
    }
    const leftInQueues = (await redriveAll(stage)).length;

    const stats = stage.faultStats();
    const injected = stats.dynamo?.byKind ?? {};
    const restarted = dynamoEvents.find((e) => e.type === 'restarted');
    const refusedHandshakes = viewers.reduce((n, v) => n + [...v.refused.values()].reduce((a, b) => a + b, 0), 0);
    const rows: [string, string, boolean][] = [
      ['viewers and where they are', `${viewers.length} from ${describeSeats(audience)}`, true],
      [
        'viewer ids (POST /viewers)',
        `${ids.issued} issued, ${ids.rateLimited} answered 429 and asked again after retryAfterMs, ${ids.retried} retried after 5xx, ${ids.withoutId} connected without one`,
        true,
      ],
      [
        'DynamoDB faults injected',
        `${stats.dynamo?.injected ?? 0} (${Object.entries(injected)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')})`,
        true,
      ],
      ['worker processes killed', `${stats.workersKilled ?? 0}`, true],
      [
        'DynamoDB Local killed and restarted',
        restarted?.type === 'restarted'
          ? `once, back after ${(restarted.downMs / 1000).toFixed(1)} s`
          : dynamoKilledAt
            ? 'killed, NOT restarted'
            : 'not killed',
        restarted !== undefined,
      ],
      [
        'phones dropped and reconnected',
        `${drops} drops, ${viewers.reduce((n, v) => n + v.reconnects, 0)} reconnects, ${refusedHandshakes} handshakes refused (429/503) and retried`,
        true,
      ],
      [
        'reporter writes acked',
        `${MOMENTS.length} publishes + edit, delete, pin (${reporter.resends} re-sent with the same clientId; errors seen: ${[...reporter.errors].map(([c, n]) => `${c} ${n}`).join(', ') || 'none'})`,
        true,
      ],
      [
        '(viewer, entry) at its final revision',
        `${(viewers.length * expected.size - missing()).toLocaleString('en-US')} / ${(viewers.length * expected.size).toLocaleString('en-US')}${deliveredLive ? '' : ' (after redrive)'}`,
        missing() === 0,
      ],
      [
        'entries shown twice',
        '0 (applied by (seq, rev)); ' + `${viewers.reduce((n, v) => n + v.repeats, 0)} frames re-sent and ignored`,
        true,
      ],
      [
        'reposts acked / refused (deleted entry) / never answered',
        `${repostsAcked} / ${repostsRefused} / ${repostsNeverAcked} (${viewers.reduce((n, v) => n + v.limited, 0)} rate_limited answers to reposts and syncs waited out)`,
        repostsNeverAcked === 0,
      ],
      [
        'reposts counted (GET /reposts total) vs acked',
        `${total} vs ${expectedTotal} acked (+ at most ${uncertainTotal} refused for the deleted entry after an attempt lost on a dropped phone)`,
        total >= expectedTotal && total <= expectedTotal + uncertainTotal,
      ],
      [
        'entries whose timeline count is off',
        `${wrongSeqs.length}${wrongSeqs.length ? ` (${wrongSeqs.map((s) => `#${s}: ${countedBySeq.get(s)} counted, ${ackedOf(s)} acked, ${uncertainOf(s)} uncertain`).join('; ')})` : ''}`,
        wrongSeqs.length === 0,
      ],
      // Shown, not checked: the ribbon storm (#14) comes ~6 s into the reposts, inside the detector's 10 s warm-up; the
      // catch (#27) is the one recorded when faults and drops leave it dense enough.
      [
        'spikes recorded (not checked here)',
        `${spikes.length}${spikes.length ? ` (${spikes.map((s) => `#${s.topSeq} peak ${s.peakPerSecond}/s`).join(', ')})` : ''}`,
        true,
      ],
      [
        'dead-lettered items redriven',
        `${redriven.filter((o) => o.status === 'redriven').length} redriven, ${redriven.filter((o) => o.status !== 'redriven').length} not; ${leftInQueues} left in the queues`,
        leftInQueues === 0 && redriven.every((o) => o.status === 'redriven'),
      ],
    ];
    console.log('\n| what | result | ok |\n|:--|:--|:--|');
    for (const [what, result, ok] of rows) console.log(`| ${what} | ${result} | ${ok ? 'yes' : 'NO'} |`);
    const failed = rows.filter(([, , ok]) => !ok);
    if (failed.length > 0) {
      console.error(`\nchaos: FAILED — ${failed.map(([w]) => w).join('; ')}`);
      return 1;
    }
    console.log('\nchaos: everything acked was delivered and counted, every failure redriven.');
    return 0;
  } finally {
    for (const v of viewers) v.end();
    reporter?.end();
    await stage.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
