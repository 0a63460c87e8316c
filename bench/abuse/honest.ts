// Child process: the honest side of the abuse scenario — the event's history, the viewers (real
// WebSockets that only listen) and the reporter publishing at a steady pace — on one clock.
import WebSocket from 'ws';
import { serve } from '../lib/child';
import { Reporter } from '../lib/reporter';
import { DeliveryTracker } from '../lib/tracker';
import { historyText } from './history-text';
import { closeAll } from '../lib/close-all';
import { openSocket } from '../lib/open-socket';

let viewers: WebSocket[] = [];
let reporter: Reporter | undefined;
let tracker: DeliveryTracker | undefined;
let closedEarly = 0;

const ACK = Buffer.from('"type":"ack"');
const ERROR = Buffer.from('"type":"error"');

serve({
  /**
   * Writes the event's history through the real publish route: `count` entries of `chars` Chinese
   * characters, from a reporter socket of its own, all sent at once (the gateway runs one
   * connection's messages in order). Resolves with the acks once every publish is answered.
   */
  async history(args: { url: string; count: number; chars: number; timeoutMs: number }) {
    const t0 = performance.now();
    const socket = await openSocket(args.url, 30_000);
    let acked = 0;
    let refused = 0;
    /** Publishes the reporter's allowance refused (100 per 10 s): sent again after retryAfterMs, as the console's outbox does. */
    let resent = 0;
    const publish = (i: number) =>
      socket.send(JSON.stringify({ action: 'publish', clientId: `history-${i}`, text: historyText(i, args.chars) }));
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`history: ${acked} of ${args.count} acked within ${args.timeoutMs} ms`)),
        args.timeoutMs,
      );
      socket.on('message', (data: Buffer) => {
        if (data.indexOf(ACK) === -1 && data.indexOf(ERROR) === -1) return;
        const message = JSON.parse(data.toString('utf8')) as { type: string; frames?: unknown[] };
        const frames = (message.type === 'batch' ? (message.frames ?? []) : [message]) as {
          type: string;
          code?: string;
          clientId?: string;
          retryAfterMs?: number;
        }[];
        for (const f of frames) {
          if (f.type === 'ack') acked++;
          else if (f.type === 'error' && f.code === 'rate_limited' && f.clientId?.startsWith('history-')) {
            resent++;
            const i = Number(f.clientId.slice('history-'.length));
            setTimeout(() => publish(i), (f.retryAfterMs ?? 1_000) + 50);
          } else if (f.type === 'error') refused++;
        }
        if (acked + refused === args.count) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (let i = 0; i < args.count; i++) publish(i);
    try {
      await done;
    } finally {
      await closeAll([socket], 5_000);
    }
    return { acked, refused, resent, ms: performance.now() - t0 };
  },

  /** Opens `count` listening viewers (closing any from before); each gets a tracker slot in connection order. */
  async connect(args: { url: string; count: number; concurrency: number; timeoutMs: number }) {
    await closeAll(viewers, 5_000);
    viewers = [];
    const t0 = performance.now();
    const errors = new Map<string, number>();
    let next = 0;
    const lane = async () => {
      while (next < args.count) {
        next++;
        try {
          const socket = await openSocket(args.url, args.timeoutMs);
          const index = viewers.length;
          viewers.push(socket);
          socket.on('message', (data: Buffer) => tracker?.receive(index, data, performance.now()));
          socket.once('close', () => closedEarly++);
        } catch (err) {
          const key = err instanceof Error ? err.message : String(err);
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(args.concurrency, args.count) }, lane));
    closedEarly = 0;
    return { connected: viewers.length, ms: performance.now() - t0, errors: Object.fromEntries(errors) };
  },

  async reporter(args: { url: string }) {
    await reporter?.close();
    reporter = await Reporter.open(args.url);
  },

  /**
   * The reporter publishes `updates` at `perSecond` (a fixed schedule); resolves once every viewer
   * has every update, or `drainMs` after the last publish. Seqs are baseSeq + 1 … baseSeq + updates.
   */
  async run(args: { updates: number; perSecond: number; baseSeq: number; runId: string; drainMs: number }) {
    if (!reporter) throw new Error('no reporter');
    if (viewers.length === 0) throw new Error('no viewers');
    const t = (tracker = new DeliveryTracker(viewers.length, args.updates, args.baseSeq));
    const r = reporter;
    r.acks = 0;
    r.ackedAt = [];
    await r.publishAll(t, args.runId, args.updates, args.perSecond);
    const lastPublish = t.publishedAt(args.updates - 1);
    const allDelivered = await t.allDelivered(lastPublish + args.drainMs);
    // Publish → ack per update: the write path's share of the latency (NaN: no ack).
    const ackMs = Array.from({ length: args.updates }, (_, i) => (r.ackedAt[i] ?? NaN) - t.publishedAt(i));
    tracker = undefined;
    return { ...t.result(), allDelivered, acks: r.acks, ackMs, closedEarly };
  },

  async close() {
    await reporter?.close();
    reporter = undefined;
    await closeAll(viewers, 10_000);
    viewers = [];
    tracker = undefined;
  },
});
