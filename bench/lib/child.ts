// Child processes of the benchmark: a module run under tsx with an IPC channel, called by operation name and answered by request id.
import { type ChildProcess, fork } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

interface Request {
  id: number;
  op: string;
  args: unknown;
}
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export interface Child {
  readonly pid: number;
  call<T>(op: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to exit, and kills it if it has not within a few seconds. */
  stop(): Promise<void>;
}

export interface ChildOptions {
  /** Extra V8 flags, e.g. a larger heap for 100,000 virtual viewers. */
  execArgv?: string[];
  env?: Record<string, string>;
}

/** Starts `file` (relative to the project root) and resolves once it has said it is ready. */
export async function startChild(file: string, opts: ChildOptions = {}): Promise<Child> {
  const child: ChildProcess = fork(resolve(ROOT, file), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...opts.env },
    // Typed arrays (histograms, per-viewer counters) cross the channel as they are.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  let nextId = 1;
  let exited = false;
  const ready = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${file} did not start within 60 s`)), 60_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      if (m === 'ready') res();
      else rej(new Error(`${file} sent ${JSON.stringify(m)} before ready`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${file} exited (${code}) before it was ready`));
    });
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${file} exited (${signal ?? code}) with a call pending`));
    }
    pending.clear();
  });
  // A benchmark that dies must not leave its children behind.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  await ready;
  child.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(`${file}: ${m.error}`));
  });

  return {
    pid: child.pid ?? 0,
    call<T>(op: string, args?: unknown, timeoutMs = 120_000) {
      if (exited) return Promise.reject(new Error(`${file} has exited`));
      const id = nextId++;
      return new Promise<T>((res, rej) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          rej(new Error(`${file}: ${op} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: res as (v: unknown) => void, reject: rej, timer });
        child.send({ id, op, args } satisfies Request);
      });
    },
    async stop() {
      process.removeListener('exit', kill);
      if (exited) return;
      const gone = new Promise<void>((res) => child.once('exit', () => res()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Each handler names its own argument type; the parent's call says what it sends (`never` here takes any of them). */
export type Handlers = Record<string, (args: never) => unknown>;

/** The child's side: answers calls with `handlers`, and exits when the parent lets go or dies. */
export function serve(handlers: Handlers): void {
  if (!process.send) throw new Error('serve() must run in a process started by startChild()');
  const send = process.send.bind(process);
  process.on('message', (m: Request) => {
    const handler = handlers[m.op];
    void (async () => {
      try {
        if (!handler) throw new Error(`unknown operation ${m.op}`);
        send({ id: m.id, ok: true, value: (await handler(m.args as never)) ?? null } satisfies Reply);
      } catch (err) {
        send({
          id: m.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies Reply);
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
  send('ready');
}
