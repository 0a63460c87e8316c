// The local stage: DynamoDB Local, the API Gateway stand-ins, and the deployed handler modules,
// wired by the same route table the CDK stack uses.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ENV, parseFrameAncestors, TABLES, type TableKey, tableEnv } from '../shared/config';
import {
  deliveryWake,
  deliveryWorker,
  HANDSHAKE_MAX_MS,
  failureQueues,
  httpRoutes,
  scheduled,
  streamTriggers,
  wsAuthorizer,
  wsRoutes,
  type FunctionDef,
} from '../shared/routes';
import { resetContainer } from '../functions/lib/container';
import { METRICS_FILE_ENV, resetTelemetry } from '../shared/observability/telemetry';
import { STAGE_ENV } from '../shared/observability/names';
import { createTables, type TableNames } from './create-tables';
import { type DynamoFaultProxy, startDynamoFaultProxy, validateDynamoFaults } from './dynamo-faults';
import { type FaultStats, type StageFaults, tableIds } from './faults';
import { type DynamoLocal, type DynamoLocalEvent, startDynamoLocal } from './dynamodb-local';
import { startHttpGateway } from './http-gateway';
import type { AwsLimits } from './aws-limits';
import { lambdaContext } from './lambda-context';
import { lambdaProcesses, type LambdaProcesses } from './lambda-processes';
import { type LambdaService, startLambdaService } from './lambda-service';
import { type SqsService, startSqsService } from './sqs';
import { type S3Storage, startS3Storage } from './s3-storage';
import { type StreamSource, startStreamSource } from './stream-source';
import { type Invoke, startWsGateway, type WsGateway, type WsGatewayOptions } from './ws-gateway';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { servedImages } from './served-images';
import { webPages } from './web-pages';
import { asFunction } from './grants';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

export interface StageOptions {
  host?: string;
  /** 0 picks a free port (tests). */
  httpPort: number;
  wsPort: number;
  /** An already running DynamoDB Local, or one to start (in memory unless dbPath is given). */
  dynamo: { endpoint: string } | { port: number; dbPath?: string };
  /** Prefix of the physical table names, so stages can share one DynamoDB Local. */
  tablePrefix?: string;
  adminKey: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Extra gateway settings (timeouts). */
  ws?: Partial<Pick<WsGatewayOptions, 'idleTimeoutMs' | 'maxLifetimeMs'>>;
  /** AWS's @connections limits to imitate: latency, the account token bucket, injected 410s. */
  limits?: AwsLimits;
  /** Configuration for the functions beyond what the stage sets (e.g. LIVECAST_DELIVERY_BUDGET). */
  env?: Record<string, string>;
  /**
   * Benchmarks: post to a management API elsewhere (another process's gateway with virtual
   * connections) instead of this stage's own.
   */
  connectionsEndpoint?: string;
  /**
   * Run the delivery workers in this many child processes, as AWS runs each invocation in an
   * environment of its own (their CPU is not the stage's). 0, the default, runs them in the
   * stage's own process: quicker to start, and what the tests use.
   */
  workerProcesses?: number;
  /** Benchmarks: consume the Changes stream with this instead of the deployed wake-up trigger. */
  wake?: Invoke;
  /**
   * How often the scheduled functions run (EventBridge runs them every `everyMinutes`; tests want
   * seconds). @default each definition's own period
   */
  scheduleEveryMs?: number;
  /**
   * Faults on purpose (docs/local-stage.md, "Injecting faults"): DynamoDB refusals and timeouts for
   * every handler and worker, worker environments killed mid-invocation.
   */
  faults?: StageFaults;
  /**
   * DynamoDB Local's crashes and restarts, when the stage started it (`dynamo: {port}`): a
   * persisted instance is restarted on its port and data and the stream consumers re-attached; an
   * in-memory one is not (its data is gone), and the stage's owner should stop. While it is down
   * the gateways answer 503. `npm start` reports these on stderr.
   */
  onDynamo?: (event: DynamoLocalEvent) => void;
  /** Handshake admission: new connections per second (default 500, AWS's), handshakes in flight (default 32). */
  connectRatePerSecond?: number;
  /** The new-connection bucket's capacity (default: a second's worth of the rate). */
  connectBurst?: number;
  maxConcurrentHandshakes?: number;
  /** Serve the pages built into this folder (`buildWeb`) on the HTTP port, with `/config.json`. */
  webDir?: string;
  /** The sites that may frame `/embed/{id}` (CSP frame-ancestors sources). @default LIVECAST_EMBED_ANCESTORS, else `'self'` */
  embedAncestors?: readonly string[];
  /** The SQS stand-in's port (the failure queues); default 0, a free one. */
  sqsPort?: number;
  /** The S3 stand-in's port (the photos' bucket); default 0, a free one. */
  s3Port?: number;
  /** Where the S3 stand-in keeps the photos (npm start: beside the DynamoDB data); a temporary folder, removed on stop, when unset. */
  s3Dir?: string;
  /**
   * Failure injection (tests): wraps a stream trigger's handler, by its id in shared/routes.ts, both
   * where its stream invokes it and where the Lambda Invoke API runs it (the redrive).
   */
  wrapStreamTrigger?: (id: string, invoke: Invoke) => Invoke;
  /**
   * The key viewer ids are signed with (LIVECAST_VIEWER_SECRET). Unset: the environment's, else the
   * one kept beside a persisted DynamoDB Local's data (`viewer-id-secret`, made on first start, so
   * the pages' ids outlive a restart), else a new random one.
   */
  viewerSecret?: string;
  /**
   * Tests only: both gateways take the caller's source address from the first `X-Forwarded-For`
   * address, so one machine can stand for viewers on many networks. Default false (as AWS: a client
   * can put anything in that header).
   */
  trustForwardedFor?: boolean;
  /** Tests: retries of a failing stream batch instead of each trigger's retryAttempts (AWS spaces ten of them seconds apart). */
  streamRetryAttempts?: number;
  /** Waits before the async retries of the delivery worker; default the Lambda service's (two, 1 and 2 s). */
  asyncRetryDelaysMs?: readonly number[];
  /**
   * Where the functions' metrics (EMF lines, one JSON object a line) are appended instead of stdout.
   * @default a file in a temporary folder of the stage's own, removed when it stops
   */
  metricsFile?: string;
  log?: (line: string) => void;
}

export interface Stage {
  /** The file the functions' EMF metric lines go to (every process's: workers in children too). */
  readonly metricsFile: string;
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly managementEndpoint: string;
  readonly dynamoEndpoint: string;
  /** The SQS stand-in holding the failure queues. */
  readonly sqs: SqsService;
  /** The S3 stand-in (s3rver, POST policies enforced) and the photos' bucket on it. */
  readonly s3: S3Storage;
  readonly imagesBucket: string;
  /** Queue URLs, by the names in shared/routes.ts failureQueues. */
  readonly failureQueues: { readonly streams: string; readonly worker: string };
  /** The DynamoDB Local this stage started and supervises (undefined when given an endpoint). */
  readonly dynamo: DynamoLocal | undefined;
  readonly tables: TableNames;
  readonly ws: WsGateway;
  readonly lambda: LambdaService;
  /** The Changes stream's consumer (delivery's wake-up). */
  readonly changes: StreamSource;
  /** Every stream consumer, the Changes one included. */
  readonly streams: readonly StreamSource[];
  /** What the fault injection did so far (all zero without `faults`). */
  faultStats(): FaultStats;
  /**
   * Kills (SIGKILL) a worker environment now, as a crash would: the one with this pid, or one
   * running an invocation, picked at random. Returns the pid, or undefined when none runs (or the
   * workers run in the stage's process).
   */
  killWorker(pid?: number): number | undefined;
  /** Process ids of the worker environments running now (empty when workers run in the stage's process). */
  workerPids(): number[];
  /** Resolves when every change written so far has woken delivery and every worker has finished. */
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  /**
   * Ends the child processes at once (DynamoDB Local, the worker environments), for a stop that
   * overran its grace or a second Ctrl-C; the caller then exits.
   */
  kill(): void;
}

async function load(def: FunctionDef): Promise<Invoke> {
  const mod = (await import(pathToFileURL(resolve(ROOT, def.entry)).href)) as { handler?: Invoke };
  const handler = mod.handler;
  if (typeof handler !== 'function') throw new Error(`${def.entry} does not export a handler`);
  // Run as the function: its DynamoDB calls are checked against its declared grants (local/grants.ts).
  return (event, context) => asFunction(def, () => handler(event, context ?? lambdaContext(def.id)));
}

export async function startStage(opts: StageOptions): Promise<Stage> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => {});
  const stoppers: (() => Promise<void>)[] = [];
  let dynamoStarted: DynamoLocal | undefined;
  const stop = async () => {
    // DynamoDB Local ending during the stop is no crash.
    dynamoStarted?.expectExit();
    for (const s of stoppers.reverse()) await s().catch(() => {});
  };

  try {
    let dynamo: DynamoLocal | undefined;
    if ('endpoint' in opts.dynamo) {
      dynamo = undefined;
    } else {
      dynamo = await startDynamoLocal({
        port: opts.dynamo.port,
        host,
        ...(opts.dynamo.dbPath ? { dbPath: opts.dynamo.dbPath } : {}),
        log,
        onEvent: (event) => {
          if (event.type === 'restarted') void reattachStreams();
          opts.onDynamo?.(event);
        },
      });
      dynamoStarted = dynamo;
      stoppers.push(() => dynamo!.stop());
    }
    const dynamoEndpoint = dynamo ? dynamo.endpoint : (opts.dynamo as { endpoint: string }).endpoint;
    const unavailable = () => dynamo?.unavailable();
    const streams: StreamSource[] = [];
    // After a restart the consumers resume after the last record each read (see StreamSource.reattach).
    const reattachStreams = async () => {
      const results = await Promise.allSettled(streams.map((s) => s.reattach()));
      for (const r of results)
        if (r.status === 'rejected')
          log(`re-attach failed: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
    };

    const admin = new DynamoDBClient({
      endpoint: dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const tables = await createTables(admin, opts.tablePrefix ?? 'livecast').finally(() => admin.destroy());

    // The handlers' and workers' DynamoDB: through the fault proxy when faults are on. The stream
    // pollers and `stage.dynamoEndpoint` stay direct: they stand for AWS's side, not our code.
    let faultProxy: DynamoFaultProxy | undefined;
    if (opts.faults?.dynamo) {
      // A table named wrong would quietly inject nothing.
      validateDynamoFaults(opts.faults.dynamo, tableIds);
      const idOf = new Map((Object.keys(tables) as TableKey[]).map((k) => [tables[k], TABLES[k].id]));
      faultProxy = await startDynamoFaultProxy({
        upstream: dynamoEndpoint,
        faults: opts.faults.dynamo,
        host,
        tableIdOf: (name) => idOf.get(name) ?? name,
        log,
      });
      const proxy = faultProxy;
      stoppers.push(() => proxy.close());
    }
    const handlersDynamoEndpoint = faultProxy?.endpoint ?? dynamoEndpoint;
    // Where failures go (AWS: the on-failure destinations): a stream batch given up, a worker
    // invocation whose retries failed. Started first so it stops last, after everything that sends.
    const sqs = await startSqsService({ port: opts.sqsPort ?? 0, host, portEnvVar: 'SQS_PORT', log });
    stoppers.push(() => sqs.close());
    const queueUrls = {
      streams: sqs.createQueue(failureQueues.streams.id),
      worker: sqs.createQueue(failureQueues.worker.id),
    };
    // The photos' bucket (AWS: the Data stack's Images bucket). One per stage, as the tables are.
    const imagesBucket = `${(opts.tablePrefix ?? 'livecast').toLowerCase()}-images`;
    // The bucket's CORS rule, as deployed (infra/stateful-stack.ts): the pages' origin may POST uploads.
    // Here that is the HTTP port (it serves the pages), on whatever host the browser used (a phone on the LAN).
    let pagesPort: string | undefined;
    const corsOrigin = (origin: string) => {
      try {
        const url = new URL(origin);
        return pagesPort !== undefined && url.protocol === 'http:' && url.port === pagesPort;
      } catch {
        return false;
      }
    };
    const s3 = await startS3Storage({
      port: opts.s3Port ?? 0,
      host,
      buckets: [imagesBucket],
      corsOrigin,
      ...(opts.s3Dir ? { directory: opts.s3Dir } : {}),
      log,
    });
    stoppers.push(() => s3.close());
    const sqsClient = new SQSClient({
      endpoint: sqs.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    stoppers.push(async () => sqsClient.destroy());
    const sendTo = (QueueUrl: string) => async (record: unknown) => {
      await sqsClient.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(record) }));
    };

    // Before the first handler import: the X-Ray SDK (bundled into publish and the worker) enables
    // a process-wide async hook with destroy tracking at import, unless in manual mode, and every
    // promise of the process pays for it. Tracing is off here (POWERTOOLS_TRACE_ENABLED below), so
    // nothing needs that context. Measured: in a profile of a sockets run, async hooks took ~8% of
    // the stage's and the workers' busy CPU, plus the GC of their destroy tracking; the cost bench
    // with the SDK preloaded, 165 against 106 µs a post for the worker path (quick runs). Worker
    // environments forked later inherit it. On AWS the traced functions keep automatic mode.
    process.env.AWS_XRAY_MANUAL_MODE ??= '1';
    const authorizer = { identitySource: wsAuthorizer.identitySource, invoke: await load(wsAuthorizer) };
    const routes = new Map<string, { invoke: Invoke; returnResponse: boolean }>();
    for (const route of wsRoutes)
      routes.set(route.routeKey, { invoke: await load(route), returnResponse: route.returnResponse });
    const ws = await startWsGateway({
      port: opts.wsPort,
      host,
      authorizer,
      routes,
      unavailable,
      ...(opts.connectRatePerSecond !== undefined ? { connectRatePerSecond: opts.connectRatePerSecond } : {}),
      ...(opts.connectBurst !== undefined ? { connectBurst: opts.connectBurst } : {}),
      ...(opts.maxConcurrentHandshakes !== undefined ? { maxConcurrentHandshakes: opts.maxConcurrentHandshakes } : {}),
      // AWS ends a handshake at the authorizer's and $connect's timeouts; the worker's connect grace counts on it.
      handshakeTimeoutMs: HANDSHAKE_MAX_MS,
      ...opts.ws,
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.trustForwardedFor ? { trustForwardedFor: true } : {}),
      log,
    });
    stoppers.push(() => ws.close());

    // Delivery workers run as asynchronous Lambda invocations. Their context counts down from
    // Lambda's 15 minutes, and to zero when the stage stops, so a running worker hands over and ends.
    let stopping = false;
    const workerFn = `livecast-local-${deliveryWorker.id}`;
    const workerTimeoutMs = deliveryWorker.timeoutSeconds * 1000;
    let workerProcesses: LambdaProcesses | undefined;
    let workerInvoke: Invoke;
    const killEveryMs = opts.faults?.killWorkersEveryMs;
    if (killEveryMs !== undefined && !opts.workerProcesses) {
      throw new Error(
        'faults.killWorkersEveryMs (LIVECAST_FAULT_KILL_WORKERS_MS) needs the workers in child processes: set workerProcesses (LIVECAST_WORKER_PROCESSES) to 1 or more',
      );
    }
    const killSeed = opts.faults?.seed ?? faultProxy?.seed;
    if (opts.workerProcesses) {
      const processes = lambdaProcesses({
        module: resolve(ROOT, deliveryWorker.entry),
        functionName: workerFn,
        timeoutMs: workerTimeoutMs,
        processes: opts.workerProcesses,
        ...(killEveryMs !== undefined ? { killEveryMs } : {}),
        ...(killSeed !== undefined ? { seed: killSeed } : {}),
        log,
      });
      workerProcesses = processes;
      workerInvoke = (event) => processes.invoke(event, lambdaContext(workerFn));
    } else {
      const inProcess = await load(deliveryWorker);
      workerInvoke = (event: unknown) => {
        const context = lambdaContext(workerFn, { timeoutMs: workerTimeoutMs });
        const remaining = context.getRemainingTimeInMillis;
        return inProcess(event, { ...context, getRemainingTimeInMillis: () => (stopping ? 0 : remaining()) });
      };
    }
    // The stream triggers are added below: the redrive invokes them by name, as on AWS.
    const functions = new Map<string, Invoke>([[workerFn, workerInvoke]]);
    const lambda = await startLambdaService({
      port: 0,
      host,
      functions,
      asyncOnFailure: new Map([[workerFn, sendTo(queueUrls.worker)]]),
      ...(opts.asyncRetryDelaysMs ? { asyncRetryDelaysMs: opts.asyncRetryDelaysMs } : {}),
      log,
    });
    stoppers.push(async () => {
      stopping = true;
      // Running workers see their time run out, hand over and end; then the service stops.
      await Promise.all([lambda.close(), workerProcesses?.stop()]);
    });

    let metricsFile = opts.metricsFile;
    if (!metricsFile) {
      const dir = mkdtempSync(join(tmpdir(), 'livecast-metrics-'));
      // Removed last (stoppers run in reverse): a worker ending during the stop still flushes its metrics.
      stoppers.unshift(async () => rmSync(dir, { recursive: true, force: true }));
      metricsFile = join(dir, 'metrics.ndjson');
    }
    writeFileSync(metricsFile, '', { flag: 'a' });

    // The handlers read their configuration on first use, as a Lambda container does.
    Object.assign(process.env, {
      ...tableEnv(tables),
      AWS_REGION: 'us-east-1',
      [ENV.dynamoEndpoint]: handlersDynamoEndpoint,
      [ENV.connectionsEndpoint]: opts.connectionsEndpoint ?? ws.managementEndpoint,
      [ENV.lambdaEndpoint]: lambda.endpoint,
      [ENV.workerFunction]: workerFn,
      [ENV.adminKey]: opts.adminKey,
      [ENV.sqsEndpoint]: sqs.endpoint,
      [ENV.s3Endpoint]: s3.endpoint,
      [ENV.imagesBucket]: imagesBucket,
      // Deployed, CloudFront serves the bucket's images/ prefix; here the HTTP port does (local/served-images.ts),
      // so image URLs are relative to the HTTP API's origin — the pages' own, as the protocol allows.
      [ENV.imagesBaseUrl]: '/',
      [ENV.streamFailuresQueueUrl]: queueUrls.streams,
      [ENV.workerFailuresQueueUrl]: queueUrls.worker,
      [ENV.local]: '1',
      [ENV.viewerSecret]:
        opts.viewerSecret ??
        (process.env[ENV.viewerSecret] || localViewerSecret('dbPath' in opts.dynamo ? opts.dynamo.dbPath : undefined)),
      [ENV.logLevel]: opts.logLevel ?? process.env[ENV.logLevel] ?? 'warn',
      [STAGE_ENV]: 'local',
      [METRICS_FILE_ENV]: metricsFile,
      // No X-Ray here (no daemon, no segment from Lambda): Powertools Tracer is off outside Lambda
      // anyway (no AWS_EXECUTION_ENV); said outright so a shell that sets that variable changes nothing.
      POWERTOOLS_TRACE_ENABLED: 'false',
      // As Lambda sets it for on-demand environments: Powertools reports a cold start only then.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      ...opts.env,
    });
    resetContainer();
    resetTelemetry();
    // Environments forked now inherit the configuration just set, and the first update does not wait for them.
    await workerProcesses?.warm();

    const tableKeyOf = (id: string) => (Object.keys(TABLES) as TableKey[]).find((k) => TABLES[k].id === id)!;
    for (const trigger of streamTriggers) {
      const name = `livecast-local-${trigger.id}`;
      const loaded = trigger.id === deliveryWake.id && opts.wake ? opts.wake : await load(trigger);
      const invoke = opts.wrapStreamTrigger ? opts.wrapStreamTrigger(trigger.id, loaded) : loaded;
      functions.set(name, invoke);
      const source = await startStreamSource({
        dynamoEndpoint,
        tableName: tables[tableKeyOf(trigger.stream.table.id)],
        invoke,
        functionName: name,
        batchSize: trigger.stream.batchSize,
        maxBatchingWindowMs: trigger.stream.maxBatchingWindowSeconds * 1000,
        maxRetryAttempts: opts.streamRetryAttempts ?? trigger.stream.retryAttempts,
        maxRecordAgeMs: trigger.stream.maxRecordAgeSeconds < 0 ? -1 : trigger.stream.maxRecordAgeSeconds * 1000,
        bisectBatchOnError: trigger.stream.bisectBatchOnError,
        reportBatchItemFailures: trigger.stream.reportBatchItemFailures,
        onFailure: sendTo(queueUrls.streams),
        log,
      });
      streams.push(source);
      stoppers.push(() => source.stop());
    }
    const changes = streams[streamTriggers.findIndex((t) => t.id === deliveryWake.id)]!;

    // EventBridge's schedules: one invocation at a time each (a slow run skips the next tick). A run
    // that loops for most of its minute (the delivery watchdog) sees its time run out when the stage
    // stops, and the stop waits for it.
    for (const def of scheduled) {
      const invoke = await load(def);
      let running: Promise<unknown> | undefined;
      let stopped = false;
      const timer = setInterval(
        () => {
          if (running) return;
          const context = lambdaContext(def.id, def.timeoutSeconds ? { timeoutMs: def.timeoutSeconds * 1000 } : {});
          const remaining = context.getRemainingTimeInMillis;
          running = invoke(
            { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
            { ...context, getRemainingTimeInMillis: () => (stopped ? 0 : remaining()) },
          )
            .catch((err: unknown) => log(`${def.id}: ${err instanceof Error ? err.message : String(err)}`))
            .finally(() => (running = undefined));
        },
        opts.scheduleEveryMs ?? def.everyMinutes * 60_000,
      );
      timer.unref();
      stoppers.push(async () => {
        stopped = true;
        clearInterval(timer);
        await running;
      });
    }

    const http = await startHttpGateway({
      port: opts.httpPort,
      host,
      routes: await Promise.all(httpRoutes.map(async (r) => ({ routeKey: r.routeKey, invoke: await load(r) }))),
      fallback: fallbacks(
        servedImages({ s3Endpoint: s3.endpoint, bucket: imagesBucket }),
        opts.webDir
          ? webPages({
              dir: opts.webDir,
              wsUrl: ws.url,
              embedAncestors: opts.embedAncestors ?? parseFrameAncestors(process.env[ENV.embedAncestors]),
            })
          : undefined,
      ),
      ...(opts.trustForwardedFor ? { trustForwardedFor: true } : {}),
      unavailable,
      log,
    });
    stoppers.push(() => http.close());
    pagesPort = new URL(http.url).port;

    return {
      metricsFile,
      httpUrl: http.url,
      wsUrl: ws.url,
      managementEndpoint: ws.managementEndpoint,
      dynamoEndpoint,
      sqs,
      s3,
      imagesBucket,
      failureQueues: queueUrls,
      dynamo,
      tables,
      ws,
      lambda,
      changes,
      streams,
      faultStats: () => ({
        dynamo: faultProxy ? { ...faultProxy.stats(), seed: faultProxy.seed } : undefined,
        workersKilled: workerProcesses?.killed() ?? 0,
      }),
      killWorker: (pid) => workerProcesses?.kill(pid),
      workerPids: () => workerProcesses?.pids() ?? [],
      settled: async (timeoutMs = 30_000) => {
        for (const s of streams) await s.drain(timeoutMs);
        await lambda.idle(timeoutMs);
      },
      stop,
      kill: () => {
        dynamo?.kill();
        for (const pid of workerProcesses?.pids() ?? []) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A viewer id secret for a local stage: kept with persisted data (so ids outlive a restart), else new each start. */
function localViewerSecret(dbPath: string | undefined): string {
  if (!dbPath) return randomBytes(32).toString('base64url');
  const file = join(dbPath, 'viewer-id-secret');
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length >= 32) return kept;
  } catch {
    // not made yet
  }
  const made = randomBytes(32).toString('base64url');
  mkdirSync(dbPath, { recursive: true });
  writeFileSync(file, made, { mode: 0o600 });
  return made;
}

/**
 * The settings a script on this machine needs to act on the stage as a deployment's would (the
 * redrive: shared/config.ts loadRedriveConfig): its endpoints and the failure queues.
 */
export function stageScriptEnv(stage: Stage): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    [ENV.local]: '1',
    [ENV.dynamoEndpoint]: stage.dynamoEndpoint,
    [ENV.lambdaEndpoint]: stage.lambda.endpoint,
    [ENV.sqsEndpoint]: stage.sqs.endpoint,
    [ENV.streamFailuresQueueUrl]: stage.failureQueues.streams,
    [ENV.workerFailuresQueueUrl]: stage.failureQueues.worker,
  };
}

type Fallback = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** The HTTP port's fallbacks, tried in order until one answers. */
function fallbacks(...all: (Fallback | undefined)[]): Fallback {
  const present = all.filter((f): f is Fallback => f !== undefined);
  return async (req, res) => {
    for (const f of present) if (await f(req, res)) return true;
    return false;
  };
}
