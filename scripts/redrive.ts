// `npm run redrive`: replays what the failure queues hold (stream batches given up, delivery worker
// invocations that failed their retries), against the running local stage or AWS.
//
// Where: LIVECAST_STREAM_FAILURES_QUEUE_URL / LIVECAST_WORKER_FAILURES_QUEUE_URL (with AWS_REGION
// and AWS credentials as usual) point it at a deployment; without them it reads the local stage's
// endpoints from .data/running.json (written by `npm start`).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createRedriveClients,
  DynamoStreamReader,
  LambdaInvoker,
  SqsFailureQueue,
} from '../shared/adapters/redrive-aws';
import { ENV, loadRedriveConfig } from '../shared/config';
import { redriveQueue, type RedriveOutcome } from '../shared/domain/redrive/redrive';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const usage = `usage: npm run redrive [-- --queue streams|worker] [--dry-run] [--limit N]

  --queue streams   stream batches given up by a trigger (re-read from the stream, invoked again)
  --queue worker    delivery worker invocations that failed their retries (invoked again)
                    (default: both)
  --dry-run         say what would be replayed; invoke nothing, delete nothing
  --limit N         at most N messages per queue`;

function fail(line: string): never {
  console.error(`redrive: ${line}`);
  process.exit(2);
}

function options() {
  try {
    const { values } = parseArgs({
      options: {
        queue: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    if (values.queue !== undefined && values.queue !== 'streams' && values.queue !== 'worker')
      fail(`--queue takes streams or worker, got ${values.queue}\n${usage}`);
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      fail(`--limit takes a positive whole number, got ${values.limit}`);
    const queues: ('streams' | 'worker')[] = values.queue ? [values.queue] : ['streams', 'worker'];
    return { queues, dryRun: values['dry-run'], limit };
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
}

/** The deployment's settings from the environment, else the running local stage's from running.json. */
function environment(): NodeJS.ProcessEnv {
  if (process.env[ENV.streamFailuresQueueUrl] || process.env[ENV.workerFailuresQueueUrl]) return process.env;
  const file = join(resolve(process.env.LIVECAST_DATA_DIR ?? '.data'), 'running.json');
  if (!existsSync(file)) {
    fail(
      `no failure queues configured. Start the local stage with \`npm start\` (in another terminal), or set ` +
        `${ENV.streamFailuresQueueUrl} and ${ENV.workerFailuresQueueUrl} for a deployment. (Looked for ${file}.)`,
    );
  }
  const running = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number; env?: Record<string, string> };
  if (!running.env) fail(`${file} was written by an older npm start; restart it`);
  return { ...process.env, ...running.env };
}

function print(queue: string, outcomes: readonly RedriveOutcome[]): void {
  if (outcomes.length === 0) {
    console.log(`${queue}: empty`);
    return;
  }
  console.log(`${queue}:`);
  for (const o of outcomes) console.log(`  ${o.status.padEnd(13)} ${o.what}${o.detail ? ` — ${o.detail}` : ''}`);
}

async function main(): Promise<number> {
  const opts = options();
  const config = loadRedriveConfig(environment());
  const clients = createRedriveClients(config);
  const urls = { streams: config.streamFailuresQueueUrl, worker: config.workerFailuresQueueUrl };
  let bad = 0;
  try {
    for (const name of opts.queues) {
      const url = urls[name];
      if (!url)
        fail(
          `the ${name} queue's URL is not set (${name === 'streams' ? ENV.streamFailuresQueueUrl : ENV.workerFailuresQueueUrl})`,
        );
      const outcomes = await redriveQueue(
        new SqsFailureQueue(clients.sqs, url),
        new DynamoStreamReader(clients.streams),
        new LambdaInvoker(clients.lambda),
        {
          dryRun: opts.dryRun,
          ...(opts.limit ? { limit: opts.limit } : {}),
        },
      );
      print(name, outcomes);
      bad += outcomes.filter((o) => o.status === 'failed' || o.status === 'invalid').length;
    }
  } finally {
    clients.destroy();
  }
  if (bad > 0)
    console.log(`redrive: ${bad} message(s) left in their queue (see above); run again once the cause is fixed`);
  return bad > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`redrive: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    process.exit(1);
  },
);
