// Runs a function's invocations in child processes (local/lambda-runtime.ts), as AWS runs each
// invocation in an execution environment of its own: their CPU, sockets and module state are not
// the stage's. Started on first use, so the children inherit the configuration the stage set.
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mulberry32 } from './aws-limits';
import type { Invoke } from './lambda-context';
import type { FromRuntime, ToRuntime } from './lambda-runtime';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RUNTIME = resolve(HERE, 'lambda-runtime.ts');
/** tsx's loader by absolute URL, so a child finds it whatever its working directory. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface LambdaProcessesOptions {
  /** Absolute path of the handler module. */
  readonly module: string;
  readonly functionName: string;
  /** The function's timeout: each invocation's context counts down from it. */
  readonly timeoutMs: number;
  /** How many environments to spread invocations over (each takes as many as it is given). */
  readonly processes: number;
  readonly log?: (line: string) => void;
  /**
   * Faults on purpose: every this many ms, kill (SIGKILL) one environment that is running an
   * invocation, picked at random; its invocations fail as Lambda's do when the runtime dies.
   */
  readonly killEveryMs?: number;
  /** Seeds the pick of the environment to kill. Unset: random. */
  readonly seed?: number;
}

export interface LambdaProcesses {
  readonly invoke: Invoke;
  /** Process ids of the environments running now (for CPU accounting). */
  pids(): number[];
  /**
   * Kills (SIGKILL) one environment now: the one with this pid, or one picked at random among the
   * started ones running an invocation (else any started one, else any). Its running invocations reject with
   * `Runtime.ExitError`; a fresh environment takes its place. Returns the pid killed, if any.
   */
  kill(target?: number): number | undefined;
  /** Environments killed by kill() (and by killEveryMs) so far. */
  killed(): number;
  /** Starts the environments now rather than on the first invocation. */
  warm(): Promise<void>;
  /** Tells running invocations their time is up, waits for them (at most `graceMs`), and ends the processes. */
  stop(graceMs?: number): Promise<void>;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

class Environment {
  readonly pending = new Map<number, Pending>();
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  exited = false;
  /** Set by kill(): the exit was the stage's doing, and the error says so. */
  killedOnPurpose = false;
  /** It started and said ready: when it dies, a replacement is worth starting at once. */
  started = false;
  /** Called when the last pending invocation settles (set while ending). */
  private drained: (() => void) | undefined;

  constructor(opts: LambdaProcessesOptions, onExit: (env: Environment) => void) {
    this.child = fork(RUNTIME, [opts.module, opts.functionName, String(opts.timeoutMs)], {
      execArgv: ['--import', TSX, ...(process.env.LIVECAST_LAMBDA_EXEC_ARGV ?? '').split(' ').filter(Boolean)],
      env: { ...process.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Without a listener an IPC error (EPIPE to a dying child) would end the stage's process.
    this.child.on('error', (err) => opts.log?.(`lambda: an environment of ${opts.functionName}: ${err.message}`));
    this.ready = new Promise((res, rej) => {
      const early = (code: number | null) =>
        rej(new Error(`${opts.functionName}: environment exited (${code}) before it was ready`));
      this.child.once('exit', early);
      this.child.once('message', (m: FromRuntime) => {
        this.child.off('exit', early);
        if (m.type === 'ready') {
          this.started = true;
          res();
        } else rej(new Error(`${opts.functionName}: environment sent ${m.type} before ready`));
      });
    });
    this.ready.catch(() => {}); // surfaced through invoke()
    this.child.on('message', (m: FromRuntime) => {
      if (m.type !== 'result') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(Object.assign(new Error(m.error.message), { name: m.error.name, stack: m.error.stack }));
      if (this.pending.size === 0) this.drained?.();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      // What Lambda reports when the runtime process dies mid-invocation.
      const why = this.killedOnPurpose
        ? 'Runtime exited with error: signal: killed (killed on purpose by the local stage: a fault injection)'
        : `Runtime exited (${signal ?? code})`;
      for (const p of this.pending.values())
        p.reject(Object.assign(new Error(`RequestId: local Error: ${why}`), { name: 'Runtime.ExitError' }));
      this.pending.clear();
      onExit(this);
    });
  }

  kill(): void {
    if (this.exited) return;
    this.killedOnPurpose = true;
    this.child.kill('SIGKILL');
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  send(message: ToRuntime): void {
    // A child that is dying (killed, crashed) but has not yet been reaped fails the write with
    // EPIPE; its exit then fails the invocation, so the write error itself is not news.
    if (!this.exited && this.child.connected) this.child.send(message, () => {});
  }

  async end(graceMs: number): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((res) => this.child.once('exit', () => res()));
    this.send({ type: 'stop' });
    if (this.pending.size > 0) {
      const drained = new Promise<void>((res) => (this.drained = res));
      await Promise.race([drained, new Promise((res) => setTimeout(res, graceMs).unref())]);
    }
    if (this.child.connected) this.child.disconnect();
    const kill = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(kill);
  }
}

export function lambdaProcesses(opts: LambdaProcessesOptions): LambdaProcesses {
  const count = Math.max(1, Math.floor(opts.processes));
  const envs: Environment[] = [];
  let nextId = 1;
  let stopped = false;
  let killed = 0;
  const pickDraw = mulberry32(opts.seed ?? Math.floor(Math.random() * 2 ** 32));

  const spawn = (): Environment => {
    const env = new Environment(opts, (gone) => {
      const at = envs.indexOf(gone);
      if (at >= 0) envs.splice(at, 1);
      if (stopped) return;
      // One that had started dies of something passing (a kill, a crash): replace it now, so the
      // retry of its invocation finds a warm environment. One that never started is not retried in
      // a loop; the next invocation tries again and reports why.
      if (gone.started && envs.filter((e) => !e.killedOnPurpose).length < count) spawn();
      opts.log?.(
        `lambda: an environment of ${opts.functionName} exited${gone.killedOnPurpose ? ' (killed on purpose)' : ''}; ${gone.started ? 'a new one replaces it' : 'the next invocation starts a new one'}`,
      );
    });
    envs.push(env);
    return env;
  };

  /** The environment with the fewest invocations running; a new one while there are fewer than `count`. */
  const pick = (): Environment => {
    // One killed a moment ago is not reaped yet, but takes nothing more.
    const live = envs.filter((e) => !e.killedOnPurpose && !e.exited);
    if (live.length < count) return spawn();
    let best = live[0]!;
    for (const env of live) if (env.pending.size < best.pending.size) best = env;
    return best;
  };

  const kill = (target?: number): number | undefined => {
    const alive = envs.filter((e) => !e.exited && !e.killedOnPurpose);
    let victim: Environment | undefined;
    if (target !== undefined) victim = alive.find((e) => e.pid === target);
    else {
      // Mid-invocation is the point: a started environment with work, else any started one, else any.
      const started = alive.filter((e) => e.started);
      const busy = started.filter((e) => e.pending.size > 0);
      const from = busy.length > 0 ? busy : started.length > 0 ? started : alive;
      victim = from[Math.min(from.length - 1, Math.floor(pickDraw() * from.length))];
    }
    if (!victim) return undefined;
    killed++;
    const pid = victim.pid;
    victim.kill();
    return pid;
  };

  let killer: NodeJS.Timeout | undefined;
  if (opts.killEveryMs !== undefined) {
    if (!(Number.isFinite(opts.killEveryMs) && opts.killEveryMs > 0))
      throw new Error(`killEveryMs must be a number of milliseconds > 0, got ${opts.killEveryMs}`);
    // Only mid-invocation kills test anything: a tick with nothing running kills nothing, and an
    // environment still starting is left to start (killing those would keep any from starting).
    killer = setInterval(() => {
      if (envs.some((e) => e.started && !e.exited && !e.killedOnPurpose && e.pending.size > 0)) kill();
    }, opts.killEveryMs);
    killer.unref();
  }

  return {
    async invoke(event) {
      if (stopped)
        throw Object.assign(new Error(`${opts.functionName}: the local stage is stopping`), {
          name: 'ServiceException',
        });
      const env = pick();
      const id = nextId++;
      // Counted against the environment at once, so invocations arriving together spread out.
      const result = new Promise((res, rej) => env.pending.set(id, { resolve: res, reject: rej }));
      result.catch(() => {}); // the caller gets the rejection through the return below, or the ready error
      try {
        await env.ready;
      } catch (err) {
        env.pending.delete(id);
        throw err;
      }
      env.send({ type: 'invoke', id, event, deadline: Date.now() + opts.timeoutMs });
      return result;
    },
    pids: () => envs.filter((e) => !e.exited).map((e) => e.pid),
    kill,
    killed: () => killed,
    async warm() {
      while (envs.length < count) spawn();
      await Promise.all(envs.map((e) => e.ready));
    },
    async stop(graceMs = 10_000) {
      stopped = true;
      clearInterval(killer);
      await Promise.all([...envs].map((e) => e.end(graceMs)));
    },
  };
}
