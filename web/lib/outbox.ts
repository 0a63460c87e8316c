// The reporter's outbox: every request gets its clientId once and keeps it through reconnects and
// reloads (it is saved in localStorage), so a re-send after a drop is the same request — the server
// answers a repeated clientId with the first outcome and never stores it twice. One request is in
// flight at a time, so updates get their seqs in the order they were typed.
import type { AckFrame, ErrorCode, ErrorFrame } from '../../shared/domain/protocol';

export type OutboxRequest =
  | { action: 'publish'; text: string; kind: 'text' | 'key' }
  | { action: 'edit'; seq: number; text: string }
  | { action: 'delete'; seq: number }
  | { action: 'pin'; seq: number; pinned: boolean };

export type OutboxState = 'waiting' | 'sending' | 'acked' | 'failed';

export interface OutboxItem {
  clientId: string;
  request: OutboxRequest;
  state: OutboxState;
  createdAt: number;
  /** When the request was last handed to the socket. */
  sentAt?: number;
  /** Times it was handed to a socket. */
  sends: number;
  /** Acked: hand-over → ack, for the last send. */
  rttMs?: number;
  seq?: number;
  rev?: number;
  error?: { code: ErrorCode; message: string };
  /** After a transient refusal: not sent again before this time. */
  notBefore?: number;
}

/** The part of localStorage the outbox uses. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface OutboxOptions {
  /** Where the outbox is kept across reloads, e.g. `livecast.outbox.<eventId>`. */
  key: string;
  storage?: KeyValueStore;
  /** Hands a frame to the socket; false when it is not open (the item waits). */
  send: (frame: object) => boolean;
  onChange?: () => void;
  now?: () => number;
  /** No ack within this long: send the same request again (safe: same clientId). @default 10 s */
  ackTimeoutMs?: number;
  /** Acked items kept for display. @default 50 */
  keepAcked?: number;
  /** Jitter for the waits after a refusal. @default Math.random */
  random?: () => number;
}

/**
 * How long a refused request waits before it goes again: exponential in the times it was sent, with
 * full jitter (a crowd of consoles refused together does not come back together), never sooner than
 * the server's `retryAfterMs`. 1 s, 2 s, 4 s … up to 30 s.
 */
export function retryDelayMs(sends: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 1_000 * 2 ** Math.max(0, sends - 1));
  return Math.max(retryAfterMs ?? 0, Math.round(ceiling * (0.5 + random() / 2)));
}

/** Error codes after which the same request may succeed later: it waits and goes again. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['rate_limited', 'internal']);

export class Outbox {
  private items: OutboxItem[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: OutboxOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const saved = opts.storage?.getItem(opts.key);
    if (saved) {
      try {
        // A request that was on its way when the page went away may or may not have arrived: send it again.
        this.items = (JSON.parse(saved) as OutboxItem[]).map((i) => (i.state === 'sending' ? { ...i, state: 'waiting' } : i));
      } catch {
        this.items = [];
      }
    }
  }

  /** Oldest first. */
  list(): readonly OutboxItem[] {
    return this.items;
  }

  get pending(): number {
    return this.items.filter((i) => i.state === 'waiting' || i.state === 'sending').length;
  }

  add(request: OutboxRequest): OutboxItem {
    const item: OutboxItem = { clientId: newClientId(), request, state: 'waiting', createdAt: this.now(), sends: 0 };
    this.items.push(item);
    this.changed();
    this.pump();
    return item;
  }

  /** A new socket is open: whatever was in flight on the old one goes again. */
  connected(): void {
    for (const i of this.items) if (i.state === 'sending') i.state = 'waiting';
    this.changed();
    this.pump();
  }

  /** Feed every ack and error frame here; returns the item it settled, if it was ours. */
  receive(frame: AckFrame | ErrorFrame): OutboxItem | undefined {
    const item = frame.clientId === undefined ? undefined : this.items.find((i) => i.clientId === frame.clientId);
    if (!item || item.state === 'acked') return undefined;
    if (frame.type === 'ack') {
      item.state = 'acked';
      item.seq = frame.seq;
      item.rev = frame.rev;
      delete item.error;
      if (item.sentAt !== undefined) item.rttMs = Math.round(this.now() - item.sentAt);
    } else if (TRANSIENT.has(frame.code)) {
      item.state = 'waiting';
      item.error = { code: frame.code, message: frame.message };
      item.notBefore = this.now() + retryDelayMs(item.sends, frame.retryAfterMs, this.random);
    } else {
      item.state = 'failed';
      item.error = { code: frame.code, message: frame.message };
    }
    this.trim();
    this.changed();
    this.pump();
    return item;
  }

  /** A failed request tried again, as the same request. */
  retry(clientId: string): void {
    const item = this.items.find((i) => i.clientId === clientId && i.state === 'failed');
    if (!item) return;
    item.state = 'waiting';
    this.changed();
    this.pump();
  }

  discard(clientId: string): void {
    this.items = this.items.filter((i) => !(i.clientId === clientId && i.state === 'failed'));
    this.changed();
  }

  /** Sends the oldest waiting request if nothing is in flight. */
  pump(): void {
    if (this.items.some((i) => i.state === 'sending')) return;
    const next = this.items.find((i) => i.state === 'waiting');
    if (!next) return;
    // In order: a request told to wait holds back the ones behind it.
    const wait = (next.notBefore ?? 0) - this.now();
    if (wait > 0) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    if (!this.opts.send({ ...next.request, clientId: next.clientId })) return; // not open: connected() pumps again
    next.state = 'sending';
    next.sentAt = this.now();
    next.sends++;
    this.changed();
    const clientId = next.clientId;
    const sends = next.sends;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // Still unanswered on the same send: the frame or its ack was lost on the way; ask again.
      const it = this.items.find((i) => i.clientId === clientId);
      if (it?.state === 'sending' && it.sends === sends) {
        it.state = 'waiting';
        this.pump();
      }
    }, this.opts.ackTimeoutMs ?? 10_000);
  }

  private trim(): void {
    const keep = this.opts.keepAcked ?? 50;
    const acked = this.items.filter((i) => i.state === 'acked');
    if (acked.length <= keep) return;
    const drop = new Set(acked.slice(0, acked.length - keep));
    this.items = this.items.filter((i) => !drop.has(i));
  }

  private changed(): void {
    try {
      this.opts.storage?.setItem(this.opts.key, JSON.stringify(this.items));
    } catch {
      // A full or disabled storage only loses the reload safety, not the session's queue.
    }
    this.opts.onChange?.();
  }
}

/** Unique per request: time, then randomness (crypto where the page has it). */
export function newClientId(): string {
  const rand = globalThis.crypto?.randomUUID?.().replace(/-/g, '').slice(0, 12) ?? Math.random().toString(36).slice(2, 14);
  return `r-${Date.now().toString(36)}-${rand}`;
}
