// `npm start` and Ctrl-C: after a flood (hundreds of sockets, a burst of publishes, HTTP reads in
// flight) a SIGINT to the process group — what a terminal's Ctrl-C sends — ends the stage, its
// DynamoDB Local and every socket within a few seconds, and leaves no process behind.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../../local/net';

const dataDir = mkdtempSync(join(tmpdir(), 'livecast-start-'));
let child: ChildProcess;
let output = '';
let dynamoPort = 0;
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

/** Processes whose command line names this DynamoDB Local's port (the java one, while it runs). */
const javaOnPort = (port: number) => {
  try {
    return execFileSync('pgrep', ['-f', `DynamoDBLocal.jar -port ${port} `])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};

beforeAll(async () => {
  const [http, ws, dynamo] = [await freePort(), await freePort(), await freePort()];
  dynamoPort = dynamo;
  child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--in-memory'], {
    env: {
      ...process.env,
      PORT: String(http),
      WS_PORT: String(ws),
      DYNAMODB_PORT: String(dynamo),
      LIVECAST_DATA_DIR: dataDir,
    },
    // Its own process group, as a shell gives a foreground job: Ctrl-C signals the whole group.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Heard as it is printed (the listeners above run first and have added it to `output`).
  const running = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes('livecast is running')) resolve();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', () => reject(new Error(`npm start exited early:\n${output}`)));
  });
  await step('npm start coming up', running, 170_000);
}, 180_000);

afterAll(() => {
  if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Waits for `work`, or fails naming the step and showing what npm start printed. */
function step<T>(label: string, work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${label}: not done within ${ms} ms; npm start printed:\n${output.slice(-3000)}`)),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

describe('Ctrl-C under npm start', () => {
  it('ends everything within a few seconds even in the middle of a flood', async () => {
    const running = JSON.parse(readFileSync(join(dataDir, 'running.json'), 'utf8')) as {
      httpUrl: string;
      wsUrl: string;
    };
    const reporterUrl = output.match(/reporter\s+(ws:\/\/\S+)/)?.[1];
    const viewerUrl = output.match(/viewer\s+(ws:\/\/\S+)/)?.[1];
    expect(reporterUrl && viewerUrl).toBeTruthy();
    expect(javaOnPort(dynamoPort)).toHaveLength(1);

    // The flood: 300 viewers, a reporter publishing 200 updates as fast as it can, and reads.
    const reporter = new WebSocket(reporterUrl!);
    reporter.on('error', () => {});
    await step('the reporter connecting', new Promise<void>((r) => reporter.once('open', () => r())), 60_000);
    // Some of these are refused for load (429/503) or still handshaking at the SIGINT: all the better.
    const sockets = Array.from({ length: 300 }, () => new WebSocket(viewerUrl!));
    const closed = sockets.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    for (const s of sockets) s.on('error', () => {});
    for (let i = 0; i < 200; i++)
      reporter.send(JSON.stringify({ action: 'publish', clientId: `flood-${i}`, text: `update ${i}` }));
    const reads = Array.from({ length: 50 }, () => fetch(`${running.httpUrl}/events`).catch(() => undefined));
    await sleep(1_000);

    const sentAt = Date.now();
    process.kill(-child.pid!, 'SIGINT');
    const exit = await step('npm start exiting after SIGINT', exited, 60_000);
    const tookMs = Date.now() - sentAt;
    await step(
      'every socket closing',
      Promise.all([
        ...closed,
        new Promise<void>((r) => (reporter.readyState === WebSocket.CLOSED ? r() : reporter.once('close', () => r()))),
      ]),
      10_000,
    );
    await step('the reads ending', Promise.all(reads), 10_000);

    // The stage's own grace is 5 s, after which it cuts everything off (exit code 1, said on stderr);
    // 15 s leaves room for a busy machine.
    expect(tookMs).toBeLessThan(15_000);
    expect(exit.signal).toBeNull();
    expect([0, 1]).toContain(exit.code);
    expect(output).toMatch(/livecast: (stopped in|still stopping after)/);
    expect(javaOnPort(dynamoPort)).toEqual([]);
    expect(existsSync(join(dataDir, 'running.json'))).toBe(false);
    console.log(
      `Ctrl-C after a flood: stopped in ${tookMs} ms; ${output.match(/livecast: (stopped in [\d.]+ s|still stopping[^\n]*)/)?.[1]}`,
    );
  }, 120_000);
});
