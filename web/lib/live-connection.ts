// One WebSocket to the event that keeps itself open: on any drop it reconnects with backoff (full
// jitter, so ten thousand phones do not come back in one wave) and, once open, asks for everything
// after the highest seq the page holds — a dropped connection loses nothing. With `syncLimit` the
// catch-up comes a page at a time (each `synced` names the next `since` until it says null).
//
// A handshake refused for load (429, 503: a connect wave) must be retried the same way, but a
// browser never sees the status: any refused handshake surfaces only as `error` then `close` 1006,
// with no `open` before. So a socket that closes before it opened counts as a refused attempt: the
// backoff keeps growing until a connection has synced, and the state says `refused`.
import type { ServerFrame, SyncFrame } from '../../shared/domain/protocol';

export type ConnectionState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  /** `refused`: the last socket closed before it opened (a refused handshake, or no network). */
  | { kind: 'waiting'; attempt: number; retryAt: number; refused: boolean }
  | { kind: 'stopped' };

export interface LiveConnectionOptions {
  /** The URL to open (read at every attempt). */
  url: () => string;
  /** The highest seq up to which nothing is missing: the `since` of the sync sent on every open. */
  since: () => number;
  /**
   * The change the page's entries already reflect when it starts (its history read over HTTP: the
   * timeline's `lastChange`): the first sync's `sinceChange`, so corrections made since arrive.
   */
  sinceChange?: number;
  /** Entries per sync reply (1..500): the catch-up is asked for a page at a time. @default no limit (v1: one reply) */
  syncLimit?: number;
  onFrame: (frame: ServerFrame) => void;
  onState?: (state: ConnectionState) => void;
  /** Called on every open, after the sync is sent (the reporter console re-sends its outbox here). */
  onOpen?: () => void;
  /** @default globalThis.WebSocket */
  WebSocket?: typeof WebSocket;
  /** @default 500 ms, doubling to at most maxDelayMs */
  baseDelayMs?: number;
  /** @default 15 s */
  maxDelayMs?: number;
  /** A ping after this long without a message; API Gateway closes idle sockets after 10 minutes. @default 4 min */
  keepAliveMs?: number;
  /** No answer to the ping within this long: the socket is dead (a phone that changed networks). @default 15 s */
  pingTimeoutMs?: number;
  /** No `synced` within this long after asking: the socket is given up and a new one syncs. @default 30 s */
  syncTimeoutMs?: number;
  random?: () => number;
}

export class LiveConnection {
  private socket: WebSocket | undefined;
  private attempt = 0;
  /** Sync refusals in a row (rate_limited, cut short): the wait before asking again doubles with each. */
  private syncRefusals = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = true;
  state: ConnectionState = { kind: 'stopped' };
  /**
   * Every change up to this one is reflected in what the page holds: the `sinceChange` of the next
   * sync. It only moves when a sync completes — live updates seen before `synced` may sit after a
   * gap that the sync is still filling.
   */
  private lastChange: number | undefined;
  /** The sync asked for on this socket (the page of the catch-up it is on): asked again when cut short. */
  private pendingSync: SyncFrame | undefined;
  private syncing = false;
  private seenDuringSync = 0;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: LiveConnectionOptions) {
    this.lastChange = opts.sinceChange;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const s = this.socket;
    this.socket = undefined;
    s?.close(1000, 'bye');
    this.setState({ kind: 'stopped' });
  }

  /** Retry now instead of waiting out the backoff (the browser came back online, a button). */
  reconnectNow(): void {
    if (this.stopped || this.state.kind === 'open' || this.state.kind === 'connecting') return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  get isOpen(): boolean {
    return this.state.kind === 'open';
  }

  /** Sends a frame if the socket is open; false when it is not (the caller keeps it for later). */
  send(frame: object): boolean {
    const s = this.socket;
    if (!s || this.state.kind !== 'open' || s.readyState !== 1) return false;
    s.send(JSON.stringify(frame));
    return true;
  }

  /** Closes the socket as a dropped network would, then reconnects as after any drop (tests, the console's "reconnect"). */
  drop(): void {
    this.abandon(4000, 'dropped');
  }

  /** Lets go of the socket at once: a dead network may take long to finish a close handshake. */
  private abandon(code: number, reason: string): void {
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    s.close(code, reason);
    this.scheduleRetry();
  }

  private open(): void {
    this.clearTimers();
    const Impl = this.opts.WebSocket ?? globalThis.WebSocket;
    this.setState({ kind: 'connecting', attempt: this.attempt });
    let socket: WebSocket;
    try {
      socket = new Impl(this.opts.url());
    } catch {
      this.scheduleRetry(true);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.setState({ kind: 'open' });
      this.syncing = true;
      this.seenDuringSync = 0;
      this.sendSync(socket, this.syncFrom(this.opts.since(), this.lastChange));
      this.armIdle();
      this.opts.onOpen?.();
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket !== socket) return;
      this.armIdle();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(ev.data)) as ServerFrame;
      } catch {
        return; // not ours to break on
      }
      if (frame.type === 'batch') for (const f of frame.frames) this.handle(f);
      else this.handle(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.scheduleRetry(!opened);
    };
    // An error is always followed by close; nothing to do twice.
    socket.onerror = () => {};
  }

  private syncFrom(since: number, sinceChange: number | undefined): SyncFrame {
    const limit = this.opts.syncLimit;
    return {
      action: 'sync',
      since,
      ...(sinceChange !== undefined ? { sinceChange } : {}),
      ...(limit !== undefined ? { limit } : {}),
    };
  }

  /** Asks for (a page of) the catch-up; one that does not finish in time is asked again on a new socket. */
  private sendSync(socket: WebSocket, sync: SyncFrame): void {
    this.pendingSync = sync;
    socket.send(JSON.stringify(sync));
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => {
      if (this.syncing && this.socket === socket) this.abandon(4002, 'no synced');
    }, this.opts.syncTimeoutMs ?? 30_000);
  }

  private handle(frame: ServerFrame): void {
    // Updates, stats and spikes delivered live carry their place in the change log.
    if ((frame.type === 'update' || frame.type === 'stats' || frame.type === 'spike') && frame.changeNo !== undefined) {
      if (this.syncing) this.seenDuringSync = Math.max(this.seenDuringSync, frame.changeNo);
      else this.lastChange = Math.max(this.lastChange ?? 0, frame.changeNo);
    } else if (frame.type === 'error' && frame.clientId === undefined && this.syncing) {
      // The catch-up was refused or cut short (rate_limited, throttled part way): no `synced`
      // follows; ask again — never before the server's retryAfterMs, and longer after each refusal
      // in a row (exponential, jittered): a page that asks again at once only spends its allowance.
      const socket = this.socket;
      clearTimeout(this.syncTimer);
      const ceiling = Math.min(30_000, 2_000 * 2 ** this.syncRefusals++);
      const delay = Math.max(
        frame.retryAfterMs ?? 0,
        Math.round(ceiling * (0.5 + (this.opts.random ?? Math.random)() / 2)),
      );
      this.syncTimer = setTimeout(() => {
        if (socket && this.socket === socket && this.syncing && this.pendingSync)
          this.sendSync(socket, this.pendingSync);
      }, delay);
    } else if (frame.type === 'synced' && typeof frame.next === 'number' && this.syncing && this.socket) {
      // A page of the catch-up: everything up to `next` is held, reflecting the changes up to its
      // `lastChange`; the next page goes on from there (live frames still wait for the last page).
      this.sendSync(this.socket, this.syncFrom(frame.next, frame.lastChange ?? this.pendingSync?.sinceChange));
    } else if (frame.type === 'synced') {
      // A connection that delivered its sync is healthy: the next drop starts the backoff afresh.
      this.attempt = 0;
      this.syncRefusals = 0;
      this.syncing = false;
      clearTimeout(this.syncTimer);
      if (frame.lastChange !== undefined)
        this.lastChange = Math.max(this.lastChange ?? 0, frame.lastChange, this.seenDuringSync);
    }
    this.opts.onFrame(frame);
  }

  private scheduleRetry(refused = false): void {
    this.clearTimers();
    if (this.stopped) return;
    const base = this.opts.baseDelayMs ?? 500;
    const max = this.opts.maxDelayMs ?? 15_000;
    const ceiling = Math.min(max, base * 2 ** this.attempt);
    // Full jitter, anywhere in [0, ceiling]: a wave of refused viewers spreads over the whole window
    // instead of coming back together in its second half.
    const delay = Math.round(ceiling * (this.opts.random ?? Math.random)());
    this.attempt++;
    this.setState({ kind: 'waiting', attempt: this.attempt, retryAt: Date.now() + delay, refused });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.pingTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.send({ action: 'ping' })) return;
      this.pingTimer = setTimeout(() => this.abandon(4001, 'no answer to ping'), this.opts.pingTimeoutMs ?? 15_000);
    }, this.opts.keepAliveMs ?? 240_000);
  }

  private clearTimers(): void {
    clearTimeout(this.syncTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.pingTimer);
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.opts.onState?.(state);
  }
}
