// Child process: the connect wave's real sockets and the reporter, kept out of the stage's process
// for their file descriptors and CPU. Viewers arrive on a schedule (AWS's 500 new connections/s)
// and retry a refused handshake with full-jitter exponential backoff, as the live page does; the
// reporter publishes at a steady rate and times each publish to its ack on this process's clock.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { serve } from '../lib/child';
import { attempts as retries } from '../../shared/retry';
import { closeAll } from '../lib/close-all';

let viewers: WebSocket[] = [];
let reporter: WebSocket | undefined;
let waveRunning = false;

type Attempt = { open: WebSocket } | { status: number } | { error: string };

/** One handshake: the open socket, the refusal's HTTP status, or the transport error. */
function attempt(url: string, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ error: 'handshake timed out' });
    }, timeoutMs);
    // Stats and updates reach viewers; this benchmark only counts them in, so frames are dropped.
    ws.once('open', () => {
      clearTimeout(timer);
      resolve({ open: ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      ws.terminate();
      resolve({ status: res.statusCode ?? 0 });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      resolve({ error: err.message });
    });
  });
}

export interface WaveResult {
  offered: number;
  connected: number;
  /** Viewers still outside at the deadline (kept being refused), or given up on a refusal no client retries. */
  notIn: number;
  /** Refused handshakes (every attempt), by HTTP status. */
  refusals: Record<string, number>;
  /** Viewers refused at their first attempt. */
  refusedFirst: number;
  errors: Record<string, number>;
  /** From the first scheduled arrival to the last viewer in (ms). */
  ms: number;
  attempts: number;
}

export interface PublishResult {
  published: number;
  /** Publish → ack (ms), by publish; NaN for one without an ack. */
  ackMs: number[];
  /** Error frames answered to publishes, by code. */
  errors: Record<string, number>;
}

serve({
  async reporter(args: { url: string }) {
    const got = await attempt(args.url, 30_000);
    if (!('open' in got)) throw new Error(`reporter handshake: ${JSON.stringify(got)}`);
    reporter = got.open;
  },

  /**
   * Publishes at `perSecond` (on a fixed schedule, so a late timer does not push later ones back),
   * `count` updates, and on while a wave runs; resolves when every publish has its answer or at the deadline.
   */
  async publish(args: {
    runId: string;
    perSecond: number;
    count: number;
    whileWave: boolean;
    answerTimeoutMs: number;
  }): Promise<PublishResult> {
    const socket = reporter;
    if (!socket) throw new Error('no reporter');
    const sentAt: number[] = [];
    const ackedAt: number[] = [];
    const errors = new Map<string, number>();
    let answered = 0;
    const prefix = `${args.runId}-`;
    const onMessage = (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type?: string; clientId?: string; code?: string };
      if ((frame.type !== 'ack' && frame.type !== 'error') || !frame.clientId?.startsWith(prefix)) return;
      const i = Number(frame.clientId.slice(prefix.length));
      if (!Number.isInteger(i) || ackedAt[i] !== undefined) return;
      ackedAt[i] = frame.type === 'ack' ? performance.now() : NaN;
      if (frame.type === 'error') errors.set(frame.code ?? '?', (errors.get(frame.code ?? '?') ?? 0) + 1);
      answered++;
    };
    socket.on('message', onMessage);
    const t0 = performance.now();
    let i = 0;
    while (i < args.count || (args.whileWave && waveRunning)) {
      const wait = t0 + (i * 1000) / args.perSecond - performance.now();
      if (wait > 0) await sleep(wait);
      sentAt[i] = performance.now();
      socket.send(
        JSON.stringify({
          action: 'publish',
          clientId: `${prefix}${i}`,
          text: `Update ${i + 1}: the gates are open and the crowd streams in.`,
        }),
      );
      i++;
    }
    const deadline = performance.now() + args.answerTimeoutMs;
    while (answered < i && performance.now() < deadline) await sleep(20);
    socket.off('message', onMessage);
    return {
      published: i,
      ackMs: sentAt.map((t, k) => (ackedAt[k] ?? NaN) - t),
      errors: Object.fromEntries(errors),
    };
  },

  /**
   * The wave: viewer k arrives at t0 + k / ratePerSecond; a 429 or 503 is retried after
   * U(0, min(8 s, 250 ms × 2^n)) until `deadlineMs` after t0; anything else is given up.
   */
  async wave(args: { url: string; count: number; ratePerSecond: number; deadlineMs: number }): Promise<WaveResult> {
    waveRunning = true;
    const refusals = new Map<number, number>();
    const errors = new Map<string, number>();
    let refusedFirst = 0;
    let attempts = 0;
    let lastIn = NaN;
    const t0 = performance.now();
    const deadline = t0 + args.deadlineMs;
    const viewer = async (k: number): Promise<void> => {
      const due = t0 + (k * 1000) / args.ratePerSecond - performance.now();
      if (due > 0) await sleep(due);
      // Refusal n waits U(0, min(8 s, 250 ms × 2^n)): retry n + 1's backoff at base 125 ms.
      for await (const n of retries({ tries: Infinity, baseMs: 125, capMs: 8_000 })) {
        if (performance.now() >= deadline) return;
        attempts++;
        const got = await attempt(args.url, 30_000);
        if ('open' in got) {
          viewers.push(got.open);
          lastIn = performance.now();
          return;
        }
        if ('error' in got) {
          errors.set(got.error, (errors.get(got.error) ?? 0) + 1);
          return;
        }
        if (n === 0) refusedFirst++;
        refusals.set(got.status, (refusals.get(got.status) ?? 0) + 1);
        if (got.status !== 429 && got.status !== 503) return;
      }
    };
    const before = viewers.length;
    try {
      await Promise.all(Array.from({ length: args.count }, (_, k) => viewer(k)));
    } finally {
      waveRunning = false;
    }
    const connected = viewers.length - before;
    return {
      offered: args.count,
      connected,
      notIn: args.count - connected,
      refusals: Object.fromEntries([...refusals].map(([s, n]) => [String(s), n])),
      refusedFirst,
      errors: Object.fromEntries(errors),
      ms: lastIn - t0,
      attempts,
    };
  },

  /** Viewer sockets open now. */
  open() {
    return viewers.filter((v) => v.readyState === WebSocket.OPEN).length;
  },

  async closeViewers() {
    await closeAll(viewers, 10_000);
    viewers = [];
  },

  async close() {
    await closeAll([...viewers, ...(reporter ? [reporter] : [])], 10_000);
    viewers = [];
    reporter = undefined;
  },
});
