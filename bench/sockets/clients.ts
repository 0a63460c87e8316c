// Child process: the real WebSocket viewers (and the reporter), kept out of the server's process for its file descriptors and its CPU.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { serve } from '../lib/child';
import { Reporter } from '../lib/reporter';
import { DeliveryTracker } from '../lib/tracker';
import { closeAll } from '../lib/close-all';
import { openSocket } from '../lib/open-socket';

let viewers: WebSocket[] = [];
let reporter: Reporter | undefined;
let tracker: DeliveryTracker | undefined;
let closedEarly = 0;

const REPOSTED = Buffer.from('"reposted":true');
const COUNTED = Buffer.from('"counted":true');
const ERROR = Buffer.from('"type":"error"');

/** Opens one viewer; its tracker slot is its place among the viewers that did connect. */
function openViewer(url: string, timeoutMs: number): Promise<WebSocket> {
  let index = -1;
  return openSocket(url, timeoutMs, {
    listen: (socket) =>
      socket.on('message', (data: Buffer) => {
        if (index >= 0) tracker?.receive(index, data, performance.now());
      }),
    opened: (socket) => {
      index = viewers.length;
      viewers.push(socket);
      socket.once('close', () => closedEarly++);
    },
  });
}

serve({
  /** Opens `count` viewers, `concurrency` handshakes at a time. */
  async connect(args: { url: string; count: number; concurrency: number; timeoutMs: number }) {
    const t0 = performance.now();
    const errors = new Map<string, number>();
    viewers = [];
    let next = 0;
    const lane = async () => {
      while (next < args.count) {
        next++;
        try {
          await openViewer(args.url, args.timeoutMs);
        } catch (err) {
          const key = err instanceof Error ? err.message : String(err);
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: args.concurrency }, lane));
    closedEarly = 0;
    return {
      connected: viewers.length,
      failed: args.count - viewers.length,
      ms: performance.now() - t0,
      errors: Object.fromEntries(errors),
    };
  },

  async reporter(args: { url: string }) {
    reporter = await Reporter.open(args.url);
  },

  /** The reporter publishes `updates` back to back; resolves when every viewer has every update, or at the deadline. */
  async run(args: { updates: number; baseSeq: number; runId: string; timeoutMs: number }) {
    if (!reporter) throw new Error('no reporter');
    if (viewers.length === 0) throw new Error('no viewers');
    const t = (tracker = new DeliveryTracker(viewers.length, args.updates, args.baseSeq));
    reporter.acks = 0;
    reporter.ackedAt = [];
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await reporter.publishAll(t, args.runId, args.updates);
    const allDelivered = await t.allDelivered(t0 + args.timeoutMs);
    const used = process.cpuUsage(cpu);
    const cpuShare = (used.user + used.system) / 1000 / (performance.now() - t0);
    const r = reporter;
    // Publish → ack: the durable write's share of the latency (no acks from the bare server).
    const ackMs = Array.from({ length: args.updates }, (_, i) => (r.ackedAt[i] ?? NaN) - t.publishedAt(i));
    const lastAckMs = r.ackedAt.length === args.updates ? Math.max(...r.ackedAt) - t.publishedAt(0) : NaN;
    return { ...t.result(), allDelivered, acks: r.acks, ackMs, lastAckMs, closedEarly, cpuShare };
  },

  /**
   * The repost storm: every viewer reposts every one of `seqs` at once. Resolves when every repost
   * has its answer (an ack or an error frame) or at the deadline.
   */
  async storm(args: { seqs: number[]; timeoutMs: number }) {
    const expected = viewers.length * args.seqs.length;
    let acked = 0;
    let counted = 0;
    let refused = 0;
    let answeredAt = NaN;
    const t0 = performance.now();
    const startedAt = Date.now();
    const listeners: [WebSocket, (data: Buffer) => void][] = [];
    const done = new Promise<void>((resolve) => {
      const onMessage = (data: Buffer) => {
        if (data.indexOf(REPOSTED) !== -1) {
          acked++;
          if (data.indexOf(COUNTED) !== -1) counted++;
        } else if (data.indexOf(ERROR) !== -1) refused++;
        else return;
        if (acked + refused === expected) {
          answeredAt = performance.now();
          resolve();
        }
      };
      for (const v of viewers) {
        v.on('message', onMessage);
        listeners.push([v, onMessage]);
      }
    });
    for (const v of viewers) for (const seq of args.seqs) v.send(JSON.stringify({ action: 'repost', seq }));
    const sentMs = performance.now() - t0;
    await Promise.race([done, sleep(args.timeoutMs)]);
    for (const [v, l] of listeners) v.off('message', l);
    return { expected, acked, counted, refused, startedAt, sentMs, answeredMs: answeredAt - t0 };
  },

  async close() {
    const t0 = performance.now();
    await reporter?.close();
    reporter = undefined;
    await closeAll(viewers, 10_000);
    viewers = [];
    tracker = undefined;
    return { ms: performance.now() - t0 };
  },
});
