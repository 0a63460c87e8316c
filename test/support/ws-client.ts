// A real WebSocket client for the integration tests: waits for frames by predicate, unpacks batches.
import WebSocket from 'ws';
import type { ServerFrame } from '../../shared/domain/protocol';

export interface WaitOptions {
  from?: number;
  timeoutMs?: number;
}

export interface TestClient {
  readonly socket: WebSocket;
  /** Every frame received so far, batches unpacked, in arrival order. */
  readonly frames: ServerFrame[];
  /** Raw messages as received (to check batching and sizes). */
  readonly messages: string[];
  send(frame: unknown): void;
  sendRaw(data: string | Buffer): void;
  /** The first frame (received before or after the call) after index `from` that matches. */
  next<T extends ServerFrame = ServerFrame>(match: (f: ServerFrame) => boolean, opts?: WaitOptions): Promise<T>;
  /** Resolves when `count` matching frames have arrived (after index `from`). */
  collect<T extends ServerFrame = ServerFrame>(
    match: (f: ServerFrame) => boolean,
    count: number,
    opts?: WaitOptions,
  ): Promise<T[]>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/**
 * `headers`: sent with the handshake (e.g. `x-forwarded-for`, for a stage that trusts it).
 * `localAddress`: the address to connect from (any 127.x.y.z on Linux): the stage's `sourceIp`.
 */
export function connect(
  url: string,
  options: { headers?: Record<string, string>; localAddress?: string } = {},
): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    const frames: ServerFrame[] = [];
    const messages: string[] = [];
    const waiters = new Set<() => void>();
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      socket.once('close', (code, reason) => r({ code, reason: reason.toString() })),
    );

    socket.on('message', (data) => {
      // A Buffer: ws's default binaryType ('nodebuffer') joins fragments into one.
      const text = (data as Buffer).toString();
      messages.push(text);
      const frame = JSON.parse(text) as ServerFrame;
      frames.push(...(frame.type === 'batch' ? frame.frames : [frame]));
      for (const w of [...waiters]) w();
    });
    socket.once('unexpected-response', (_req, res) => reject(new HandshakeRefused(res.statusCode ?? 0)));
    socket.once('error', (err) => reject(err));
    const collect = (match: (f: ServerFrame) => boolean, count: number, opts: WaitOptions = {}) =>
      new Promise<ServerFrame[]>((res, rej) => {
        const from = opts.from ?? 0;
        const check = () => {
          const found = frames.slice(from).filter(match);
          if (found.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          res(found.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = JSON.stringify(frames.slice(from)).slice(0, 2000);
          rej(new Error(`timed out waiting for ${count} matching frame(s); received: ${seen}`));
        }, opts.timeoutMs ?? 10_000);
        waiters.add(check);
        check();
      });

    socket.once('open', () =>
      resolve({
        socket,
        frames,
        messages,
        closed,
        send: (frame) => socket.send(JSON.stringify(frame)),
        sendRaw: (data) => socket.send(data),
        next: <T extends ServerFrame>(match: (f: ServerFrame) => boolean, opts?: WaitOptions) =>
          collect(match, 1, opts).then((list) => list[0] as T),
        collect: <T extends ServerFrame>(match: (f: ServerFrame) => boolean, count: number, opts?: WaitOptions) =>
          collect(match, count, opts) as Promise<T[]>,
        close: () =>
          new Promise<void>((res) => {
            if (socket.readyState === WebSocket.CLOSED) return res();
            socket.once('close', () => res());
            socket.close();
          }),
      }),
    );
  });
}

export class HandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused with HTTP ${status}`);
  }
}

export async function refusedStatus(url: string): Promise<number> {
  try {
    const c = await connect(url);
    await c.close();
    return 101;
  } catch (err) {
    if (err instanceof HandshakeRefused) return err.status;
    throw err;
  }
}

/**
 * The clients one test file opens, closed together: `clients.connect(url)` opens one as `connect`
 * does and keeps it, `clients.closeAll()` (afterAll, afterEach) closes every one kept so far.
 */
export class OpenClients {
  private readonly open: TestClient[] = [];

  readonly connect = async (url: string, options?: Parameters<typeof connect>[1]): Promise<TestClient> => {
    const c = await connect(url, options);
    this.open.push(c);
    return c;
  };

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((c) => c.close()));
  }
}
