// The simulation's WebSocket: a phone's (or the reporter's) socket that collects frames and lets
// `npm run simulate` wait for one.
import WebSocket from 'ws';
import { attempts } from '../../shared/retry';

export type Frame = { type: string; [k: string]: unknown };

const flatten = (f: Frame): Frame[] => (f.type === 'batch' ? (f.frames as Frame[]) : [f]);

class Refused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused: HTTP ${status}`);
  }
}

/** A WebSocket that collects frames and lets callers wait for one. */
export class Client {
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
  /**
   * Opens a socket; a handshake refused for load (429, 503) is retried with full-jitter backoff, as
   * viewers' pages do: 10 retries, refusal n waiting U(0, min(15 s, 500 ms × 2^n)) — retry n + 1's
   * backoff at base 250 ms.
   */
  static async open(url: string, localAddress?: string): Promise<Client> {
    let refused: unknown;
    for await (const _ of attempts({ tries: 11, baseMs: 250, capMs: 15_000 })) {
      try {
        return await Client.openOnce(url, localAddress);
      } catch (err) {
        if (!(err instanceof Refused) || (err.status !== 429 && err.status !== 503)) throw err;
        refused = err;
      }
    }
    throw refused;
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
