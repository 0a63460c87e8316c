// `npm start`: the whole backend on this machine — DynamoDB Local, the local API Gateway stages,
// the handlers — plus a ready demo event.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { limitsFromEnv } from '../local/aws-limits';
import { faultsFromEnv } from '../local/faults';
import type { DynamoLocalEvent } from '../local/dynamodb-local';
import { stageScriptEnv, startStage, type Stage } from '../local/stage';
import { buildWeb, DEFAULT_WEB_OUT } from '../web/build';

const env = process.env;
// The SDK warns that its releases after January 2027 need Node 22; this project pins its versions (README).
env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
/** A whole number from the environment in [0, max], or the fallback; anything else stops the start with a clear line. */
const whole = (name: string, fallback: number, max: number, what: string) => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    console.error(`livecast: ${name}=${raw} is not ${what}`);
    process.exit(2);
  }
  return n;
};
const atLeastOne = (name: string, fallback: number, max: number, what: string) => {
  const n = whole(name, fallback, max, what);
  if (n >= 1) return n;
  console.error(`livecast: ${name}=${env[name]} is not ${what}`);
  process.exit(2);
};
const port = (name: string, fallback: number) => whole(name, fallback, 65535, 'a port number');

/** The one flag; everything else is set by the environment (docs/local-stage.md). */
const flags = (() => {
  try {
    return parseArgs({ options: { 'in-memory': { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    console.error(`livecast: ${err instanceof Error ? err.message : String(err)}\n\nusage: npm start [-- --in-memory]`);
    process.exit(2);
  }
})();
const inMemory = flags['in-memory'] === true || env.LIVECAST_IN_MEMORY === '1';
const dataDir = resolve(env.LIVECAST_DATA_DIR ?? '.data');
const generatedKey = !env.LIVECAST_ADMIN_KEY;
const adminKey = env.LIVECAST_ADMIN_KEY || randomBytes(24).toString('base64url');

interface Demo {
  eventId: string;
  operatorToken: string;
}

/** The demo event survives restarts with the data (its token is only known to this file). */
async function demoEvent(stage: Stage): Promise<Demo> {
  const file = join(dataDir, 'demo-event.json');
  if (!inMemory && existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Demo;
    const res = await fetch(`${stage.httpUrl}/events/${saved.eventId}`);
    if (res.ok) return saved;
  }
  const res = await fetch(`${stage.httpUrl}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Sweetfish Festival — Opening Ceremony', startsAt: new Date().toISOString() }),
  });
  if (res.status !== 201) throw new Error(`could not create the demo event: ${res.status} ${await res.text()}`);
  const created = (await res.json()) as Demo;
  const demo = { eventId: created.eventId, operatorToken: created.operatorToken };
  if (!inMemory) writeFileSync(file, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });
  return demo;
}

/** How long Ctrl-C waits for sockets, $disconnects, workers and DynamoDB Local to end cleanly before cutting them off. */
const stopGraceMs = 5_000;

let stage: Stage | undefined;
let stopping = false;

/** Ends the stage: cleanly within stopGraceMs, else at once; a second signal ends it at once. */
async function shutdown(why: string, code: number): Promise<never> {
  if (stopping) {
    console.error('livecast: stopping at once.');
    stage?.kill();
    process.exit(code || 130);
  }
  stopping = true;
  console.log(`\nlivecast: ${why}, stopping… (Ctrl-C again to stop at once)`);
  const started = Date.now();
  const cut = setTimeout(() => {
    console.error(
      `livecast: still stopping after ${stopGraceMs / 1000} s (sockets, $disconnects, workers); cutting it short.`,
    );
    stage?.kill();
    process.exit(code || 1);
  }, stopGraceMs);
  await stage?.stop();
  clearTimeout(cut);
  console.log(`livecast: stopped in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

/** DynamoDB Local's crashes, said loudly on stderr: every route would otherwise just fail. */
function onDynamo(event: DynamoLocalEvent): void {
  switch (event.type) {
    case 'crashed': {
      const how = event.signal ? `signal ${event.signal}` : `exit code ${event.code}`;
      console.error(`\nlivecast: DynamoDB Local DIED (${how}). Its last lines:`);
      for (const line of event.lastLines) console.error(`  | ${line}`);
      if (event.restarting) {
        console.error(
          'livecast: restarting it on the same port and data; until it is back, routes answer 503 and handshakes are refused with 503.',
        );
      } else {
        console.error(
          'livecast: it ran in memory, so its data is gone: stopping. Start again (without --in-memory to keep data across a crash).',
        );
        void shutdown('DynamoDB Local died', 1);
      }
      return;
    }
    case 'restarted':
      console.error(
        `livecast: DynamoDB Local is back after ${(event.downMs / 1000).toFixed(1)} s (restart ${event.restarts}); the stream consumers resume after the last record they read.`,
      );
      return;
    case 'gave-up':
      console.error(`livecast: DynamoDB Local cannot be brought back (${event.reason}): stopping.`);
      void shutdown('DynamoDB Local is gone', 1);
      return;
  }
}

async function main() {
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  // AWS's @connections limits, imitated when LIVECAST_SIM_* are set (see docs/local-stage.md).
  const limits = limitsFromEnv(env);
  // Faults on purpose, when LIVECAST_FAULT_* are set (docs/local-stage.md, "Injecting faults").
  const faults = faultsFromEnv(env);
  console.log('livecast: building the pages…');
  buildWeb(DEFAULT_WEB_OUT);
  console.log('livecast: starting DynamoDB Local and the local API Gateway stages…');
  stage = await startStage({
    httpPort: port('PORT', 3000),
    wsPort: port('WS_PORT', 3001),
    dynamo: { port: port('DYNAMODB_PORT', 8000), ...(inMemory ? {} : { dbPath: join(dataDir, 'dynamodb') }) },
    // The failure queues' SQS stand-in (SQS_PORT, default a free port: npm run redrive finds it in running.json).
    sqsPort: port('SQS_PORT', 0),
    // The photos' S3 stand-in (S3_PORT, default a free port; printed below), its objects kept with the data.
    s3Port: port('S3_PORT', 0),
    ...(inMemory ? {} : { s3Dir: join(dataDir, 's3') }),
    adminKey,
    ...(limits ? { limits } : {}),
    ...(faults ? { faults } : {}),
    // Delivery workers in child processes of their own, as on AWS (LIVECAST_WORKER_PROCESSES, default 0: in this process).
    workerProcesses: whole('LIVECAST_WORKER_PROCESSES', 0, 64, 'a number of processes (0-64)'),
    webDir: DEFAULT_WEB_OUT,
    // The functions' EMF metric lines, one JSON object a line, appended (in memory: a temporary file, gone at the stop).
    ...(inMemory ? {} : { metricsFile: join(dataDir, 'metrics.ndjson') }),
    // New connections per second before 429 (AWS's default account limit is 500/s).
    connectRatePerSecond: whole(
      'LIVECAST_CONNECT_RATE',
      500,
      1_000_000,
      'a number of connections per second (0: unlimited)',
    ),
    maxConcurrentHandshakes: atLeastOne(
      'LIVECAST_HANDSHAKES_IN_FLIGHT',
      32,
      10_000,
      'a number of handshakes (1-10000)',
    ),
    onDynamo,
    log: (line) => console.log(`  ${line}`),
  });
  if (stopping) return;

  // Where tools on this machine (npm run simulate) find the running stage; gone when it stops.
  mkdirSync(dataDir, { recursive: true });
  const running = join(dataDir, 'running.json');
  // `env`: the settings npm run redrive reads, as a deployment would set them.
  const scriptEnv = stageScriptEnv(stage);
  writeFileSync(
    running,
    JSON.stringify({ pid: process.pid, httpUrl: stage.httpUrl, wsUrl: stage.wsUrl, adminKey, env: scriptEnv }, null, 2),
    { mode: 0o600 },
  );
  process.on('exit', () => rmSync(running, { force: true }));

  const demo = await demoEvent(stage);
  if (stopping) return;
  const ws = stage.wsUrl;
  console.log(`
livecast is running${inMemory ? ' (in memory: data is gone when it stops)' : ` (data in ${dataDir})`}

  HTTP API         ${stage.httpUrl}
  WebSocket API    ${ws}
  Management API   ${stage.managementEndpoint}/@connections/{connectionId}
  DynamoDB Local   ${stage.dynamoEndpoint}
  S3 (photos)      ${stage.s3.endpoint}/${stage.imagesBucket}
  Failure queues   ${stage.failureQueues.streams}, ${stage.failureQueues.worker}   (npm run redrive replays them)

  Admin key        ${adminKey}${generatedKey ? '   (generated; set LIVECAST_ADMIN_KEY to choose one)' : ''}

Pages
  live page        ${stage.httpUrl}/live/${demo.eventId}
  reporter console ${stage.httpUrl}/report/${demo.eventId}#token=${demo.operatorToken}
  replay           ${stage.httpUrl}/replay/${demo.eventId}
  embed            ${stage.httpUrl}/embed/${demo.eventId}
  organiser        ${stage.httpUrl}/organiser   (sign in with the admin key)

Demo event ${demo.eventId}
  viewer           ${ws}/?eventId=${demo.eventId}
  reporter         ${ws}/?eventId=${demo.eventId}&token=${demo.operatorToken}
  event            ${stage.httpUrl}/events/${demo.eventId}
  timeline         ${stage.httpUrl}/events/${demo.eventId}/timeline
  feeds            ${stage.httpUrl}/events/${demo.eventId}/feed.json, …/feed.atom

Try it:  npx wscat -c '${ws}/?eventId=${demo.eventId}&token=${demo.operatorToken}'
         then send {"action":"publish","clientId":"c1","text":"The ceremony begins"}
Ctrl-C stops everything.
`);
}

main().catch((err: unknown) => {
  if (stopping) return;
  console.error(`livecast: could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
