// The reporter: a real WebSocket publishing numbered updates, noting in the tracker when each frame left (this process's clock, as the viewers' receipts).
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { DeliveryTracker } from './tracker';

const ACK = Buffer.from('"type":"ack"');
const CLIENT_ID = Buffer.from('"clientId":"');

export class Reporter {
  acks = 0;
  /** When each update's ack came back (performance.now()), by update index: the durable write's share of the latency. */
  ackedAt: number[] = [];

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      if (data.indexOf(ACK) === -1) return;
      this.acks++;
      // clientId is `<runId>-<i>`: the index follows the last '-'.
      const at = data.indexOf(CLIENT_ID);
      const end = at === -1 ? -1 : data.indexOf(0x22, at + CLIENT_ID.length);
      if (end === -1) return;
      const id = data.toString('utf8', at + CLIENT_ID.length, end);
      const i = Number(id.slice(id.lastIndexOf('-') + 1));
      if (Number.isInteger(i) && this.ackedAt[i] === undefined) this.ackedAt[i] = performance.now();
    });
  }

  static open(url: string, timeoutMs = 30_000): Promise<Reporter> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false });
      const timer = setTimeout(() => {
        socket.terminate();
        reject(new Error(`reporter did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('open', () => {
        clearTimeout(timer);
        resolve(new Reporter(socket));
      });
      socket.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`reporter handshake refused: HTTP ${res.statusCode}`));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends update `i`; the publish time is taken just before the frame is handed to the socket. */
  publish(tracker: Pick<DeliveryTracker, 'publishing'>, runId: string, i: number): void {
    const frame = JSON.stringify({
      action: 'publish',
      clientId: `${runId}-${i}`,
      text: `Update ${i + 1} from the riverbank: the dragon boats pass the second buoy, crowd on both banks.`,
    });
    tracker.publishing(i, performance.now());
    this.socket.send(frame);
  }

  /**
   * Publishes `count` updates: back to back when `perSecond` is undefined, else on a fixed
   * schedule (t0 + i/rate, so a late timer does not push every later update back).
   */
  async publishAll(tracker: DeliveryTracker, runId: string, count: number, perSecond?: number): Promise<void> {
    if (perSecond === undefined) {
      for (let i = 0; i < count; i++) this.publish(tracker, runId, i);
      return;
    }
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      this.publish(tracker, runId, i);
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(() => {
        this.socket.terminate();
        resolve();
      }, 5_000);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.close();
    });
  }
}
