// The chaos run's phones and reporter (scripts/chaos.ts): sockets that come back after a refusal or a
// drop, as the live page and the console do, and keep what a page would show.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { attempts, backoffMs } from '../../shared/retry';

export type Frame = { type: string; clientId?: string; code?: string; [k: string]: unknown };

const flatten = (f: Frame): Frame[] => (f.type === 'batch' ? (f.frames as Frame[]) : [f]);

/** A socket that comes back: refused handshakes and drops are retried with jittered backoff, as the pages do. */
export abstract class Resilient {
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

  /** Tries until it is open (or ended): try n + 1 waits U(0, min(5 s, 200 ms × 2^n)), base 100 ms below. */
  async open(): Promise<void> {
    for await (const _ of attempts({ tries: Infinity, baseMs: 100, capMs: 5_000 })) {
      if (this.ended) return;
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
        // Refused or unreachable: the next attempt, after its backoff.
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
export class Viewer extends Resilient {
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
export class Reporter extends Resilient {
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
          throw new Error(`${frame.action} refused: ${String(answer.message)}`);
      }
      await sleep(
        Math.max(backoffMs(Math.min(attempt, 5), Math.random, 200, 3_000), Number(answer?.retryAfterMs ?? 0)),
      );
    }
  }
}
