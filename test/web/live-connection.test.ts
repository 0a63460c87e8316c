import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ConnectionState, LiveConnection, type LiveConnectionOptions } from '../../web/lib/live-connection';

/** A WebSocket stand-in the test drives: open, message, close. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.());
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  fail() {
    this.readyState = 3;
    this.onclose?.();
  }
}

function start(
  highestSeq: () => number,
  random: () => number = () => 1 /* the top of each jitter window */,
  extra: Partial<LiveConnectionOptions> = {},
) {
  const frames: unknown[] = [];
  const states: ConnectionState[] = [];
  const conn = new LiveConnection({
    url: () => 'ws://test/?eventId=e',
    since: highestSeq,
    onFrame: (f) => frames.push(f),
    onState: (s) => states.push(s),
    WebSocket: FakeSocket as unknown as typeof WebSocket,
    random,
    ...extra,
  });
  conn.start();
  return { conn, frames, states, socket: () => FakeSocket.all.at(-1)! };
}

const update = (seq: number, changeNo: number) => ({ type: 'update', eventId: 'e', changeNo, entry: { seq, rev: 1 } });

describe('LiveConnection (the pages never miss an update across a drop)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it('syncs on every open from the highest seq held, and from the last change once it knows one', () => {
    let held = 0;
    const { socket, frames } = start(() => held);
    socket().open();
    expect(socket().sent).toEqual([{ action: 'sync', since: 0 }]);
    socket().receive({ type: 'batch', frames: [update(1, 1), update(2, 2)] });
    socket().receive({ type: 'synced', lastSeq: 2, lastChange: 2 });
    held = 2;
    socket().receive(update(3, 5));
    held = 3;
    expect(frames).toHaveLength(4); // the batch unpacked
    socket().fail();
    vi.advanceTimersByTime(500);
    socket().open();
    expect(socket().sent).toEqual([{ action: 'sync', since: 3, sinceChange: 5 }]);
  });

  it("resumes from the change of the last stats frame too (a storm's stats between two updates)", () => {
    let held = 0;
    const { socket } = start(() => held);
    socket().open();
    socket().receive({ type: 'synced', lastSeq: 0, lastChange: 2 });
    socket().receive(update(1, 3));
    held = 1;
    socket().receive({ type: 'stats', eventId: 'e', viewers: 9, reposts: { '1': 40 }, at: 'now', changeNo: 57 });
    socket().fail();
    vi.advanceTimersByTime(500);
    socket().open();
    expect(socket().sent[0]).toEqual({ action: 'sync', since: 1, sinceChange: 57 });
  });

  it('does not move past a gap: live updates seen before synced only count once the sync completes', () => {
    const { socket } = start(() => 0);
    socket().open();
    socket().receive({ type: 'synced', lastSeq: 0, lastChange: 10 });
    socket().fail();
    vi.advanceTimersByTime(500);
    socket().open(); // sync sent with sinceChange 10
    socket().receive(update(4, 15)); // live, while the sync is still running
    socket().fail(); // dropped before synced: changes 11..14 may still be owed
    vi.advanceTimersByTime(1000);
    socket().open();
    expect(socket().sent[0]).toEqual({ action: 'sync', since: 0, sinceChange: 10 });
    socket().receive({ type: 'synced', lastSeq: 4, lastChange: 14 });
    socket().fail();
    vi.advanceTimersByTime(500);
    socket().open();
    // 15 arrived on an earlier socket: asking from 14 repeats it (harmless, applied by rev), never skips.
    expect(socket().sent[0]).toEqual({ action: 'sync', since: 0, sinceChange: 14 });
  });

  it('backs off exponentially up to a ceiling while the server cannot be reached, and starts over after a sync', () => {
    const { socket, states } = start(() => 0);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      socket().fail();
      const waiting = states.at(-1)!;
      if (waiting.kind !== 'waiting') throw new Error('expected waiting');
      delays.push(waiting.retryAt - Date.now());
      vi.advanceTimersByTime(waiting.retryAt - Date.now());
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
    socket().open();
    socket().receive({ type: 'synced', lastSeq: 0 });
    socket().fail();
    const again = states.at(-1)!;
    expect(again.kind === 'waiting' && again.retryAt - Date.now()).toBe(500);
  });

  it('retries a refused handshake (closed before it ever opened, as a browser sees a 429 or 503) with full jitter and a growing window', () => {
    const draws = [0, 0.5, 0.25, 1, 0.1];
    const { socket, states } = start(
      () => 0,
      () => draws.shift() ?? 0.5,
    );
    const waits: { delay: number; refused: boolean }[] = [];
    for (let i = 0; i < 5; i++) {
      // A refusal: error, then close 1006, and no open before them.
      socket().onerror?.();
      socket().fail();
      const waiting = states.at(-1)!;
      if (waiting.kind !== 'waiting') throw new Error('expected waiting');
      waits.push({ delay: waiting.retryAt - Date.now(), refused: waiting.refused });
      vi.advanceTimersByTime(waiting.retryAt - Date.now());
    }
    // Windows of 500, 1000, 2000, 4000, 8000 ms; each delay anywhere in its window (0 included).
    expect(waits).toEqual([
      { delay: 0, refused: true },
      { delay: 500, refused: true },
      { delay: 500, refused: true },
      { delay: 4000, refused: true },
      { delay: 800, refused: true },
    ]);
    expect(FakeSocket.all).toHaveLength(6);
    // Once in, a later drop of an open socket is not a refusal.
    socket().open();
    socket().receive({ type: 'synced', lastSeq: 0 });
    socket().fail();
    expect(states.at(-1)).toMatchObject({ kind: 'waiting', refused: false });
  });

  it('pings an idle connection and gives up on one that does not answer', () => {
    const { socket } = start(() => 0);
    const first = socket();
    first.open();
    first.receive({ type: 'synced', lastSeq: 0 });
    vi.advanceTimersByTime(240_000);
    expect(first.sent.at(-1)).toEqual({ action: 'ping' });
    vi.advanceTimersByTime(15_000);
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(2); // a new socket after the dead one
  });

  it('asks again when the catch-up was cut short, and gives up on a socket whose catch-up never ends', () => {
    const { socket } = start(() => 0);
    const first = socket();
    first.open();
    first.receive({ type: 'error', code: 'rate_limited', message: 'the catch-up was throttled part way' });
    vi.advanceTimersByTime(3_000);
    expect(first.sent.filter((f) => f.action === 'sync')).toHaveLength(2);
    vi.advanceTimersByTime(30_000); // still no synced
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("waits the server's retryAfterMs before asking again for a refused catch-up, and longer after each refusal in a row", () => {
    const { socket } = start(
      () => 0,
      () => 0,
    );
    const s = socket();
    s.open();
    const syncs = () => s.sent.filter((f) => f.action === 'sync').length;
    s.receive({ type: 'error', code: 'rate_limited', message: 'too many syncs', retryAfterMs: 20_000 });
    vi.advanceTimersByTime(19_900);
    expect(syncs()).toBe(1);
    vi.advanceTimersByTime(200);
    expect(syncs()).toBe(2);
    // Without a hint, the refusals that follow wait 2 s, 4 s, 8 s (the lower half of 4, 8, 16 s: random 0).
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = syncs();
      s.receive({ type: 'error', code: 'rate_limited', message: 'too many syncs' });
      let waited = 0;
      while (syncs() === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      waits.push(waited);
    }
    expect(waits).toEqual([2_000, 4_000, 8_000]);
  });

  describe('a catch-up in pages (syncLimit), after a history read over HTTP (sinceChange)', () => {
    const syncs = (s: FakeSocket) => s.sent.filter((f) => f.action === 'sync');

    it('asks only for the gap after the history, then follows next until null', () => {
      let held = 600; // read over HTTP; its pages reflected change 640
      const { socket } = start(() => held, undefined, { sinceChange: 640, syncLimit: 100 });
      socket().open();
      expect(syncs(socket())).toEqual([{ action: 'sync', since: 600, sinceChange: 640, limit: 100 }]);
      socket().receive({ type: 'synced', lastSeq: 750, lastChange: 800, next: 700 });
      held = 700;
      expect(syncs(socket()).at(-1)).toEqual({ action: 'sync', since: 700, sinceChange: 800, limit: 100 });
      socket().receive({ type: 'synced', lastSeq: 750, lastChange: 805, next: null });
      expect(syncs(socket())).toHaveLength(2);
    });

    it('goes on from the page it was on when a page is cut short, and from below any hole after a drop', () => {
      let held = 0;
      const { socket } = start(
        () => held,
        () => 0.5,
        { syncLimit: 100 },
      );
      const first = socket();
      first.open();
      expect(syncs(first)).toEqual([{ action: 'sync', since: 0, limit: 100 }]);
      first.receive({ type: 'synced', lastSeq: 250, lastChange: 260, next: 100 });
      held = 100;
      first.receive(update(251, 261)); // live, above the hole 101..250 the catch-up is still filling
      first.receive({ type: 'error', code: 'rate_limited', message: 'the catch-up was throttled part way' });
      vi.advanceTimersByTime(3_000);
      expect(syncs(first).at(-1)).toEqual({ action: 'sync', since: 100, sinceChange: 260, limit: 100 });
      first.fail(); // dropped mid-catch-up: the change it had reached is not the page's
      vi.advanceTimersByTime(500);
      socket().open();
      expect(syncs(socket())).toEqual([{ action: 'sync', since: 100, limit: 100 }]);
      socket().receive({ type: 'synced', lastSeq: 251, lastChange: 262, next: 200 });
      held = 200;
      socket().receive({ type: 'synced', lastSeq: 251, lastChange: 263, next: null });
      held = 251;
      socket().fail();
      vi.advanceTimersByTime(500);
      socket().open();
      // Caught up through change 263 (the live 261 arrived on an earlier socket and is below it).
      expect(syncs(socket())).toEqual([{ action: 'sync', since: 251, sinceChange: 263, limit: 100 }]);
    });

    it('treats a synced without next (a server that ignores limit) as the end', () => {
      const { socket } = start(() => 5, undefined, { sinceChange: 9, syncLimit: 100 });
      socket().open();
      socket().receive({ type: 'synced', lastSeq: 7, lastChange: 12 });
      socket().receive(update(8, 13));
      socket().fail();
      vi.advanceTimersByTime(500);
      socket().open();
      expect(syncs(socket())).toEqual([{ action: 'sync', since: 5, sinceChange: 13, limit: 100 }]);
    });
  });

  it('refuses to send while not open (the caller keeps the frame)', () => {
    const { conn, socket } = start(() => 0);
    expect(conn.send({ action: 'repost', seq: 1 })).toBe(false);
    socket().open();
    expect(conn.send({ action: 'repost', seq: 1 })).toBe(true);
    conn.stop();
    expect(conn.send({ action: 'repost', seq: 1 })).toBe(false);
  });
});
