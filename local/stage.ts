// The local stage: DynamoDB Local, the API Gateway stand-ins, and the deployed handler modules,
// wired by the same route table the CDK stack uses.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV, parseFrameAncestors, tableEnv } from '../shared/config';
import { deliveryWake, httpRoutes, streamTriggers } from '../shared/routes';
import { resetContainer } from '../functions/lib/container';
import { METRICS_FILE_ENV, resetTelemetry } from '../shared/observability/telemetry';
import { STAGE_ENV } from '../shared/observability/names';
import { createTables, type TableNames } from './create-tables';
import type { DynamoLocal } from './dynamodb-local';
import type { FaultStats } from './faults';
import { startHttpGateway } from './http-gateway';
import type { LambdaService } from './lambda-service';
import type { S3Storage } from './s3-storage';
import { servedImages } from './served-images';
import type { SqsService } from './sqs';
import type { StageOptions } from './stage-options';
import {
  load,
  prepareMetricsFile,
  startFaultProxy,
  startOwnDynamo,
  startSchedules,
  startStorage,
  startStreamConsumers,
  startWorkers,
  startWs,
  type Stopper,
  type Storage,
  type Workers,
} from './stage-parts';
import type { StreamSource } from './stream-source';
import { webPages } from './web-pages';
import type { WsGateway } from './ws-gateway';

export type { StageOptions };

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

export async function startStage(opts: StageOptions): Promise<Stage> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => {});
  const stoppers: Stopper[] = [];
  let dynamoStarted: DynamoLocal | undefined;
  const stop = async () => {
    // DynamoDB Local ending during the stop is no crash.
    dynamoStarted?.expectExit();
    for (const s of stoppers.reverse()) await s().catch(() => {});
  };

  try {
    const streams: StreamSource[] = [];
    const dynamo = await startOwnDynamo(opts, host, log, streams);
    if (dynamo) {
      dynamoStarted = dynamo;
      stoppers.push(() => dynamo.stop());
    }
    const dynamoEndpoint = dynamo ? dynamo.endpoint : (opts.dynamo as { endpoint: string }).endpoint;
    const unavailable = () => dynamo?.unavailable();

    const admin = new DynamoDBClient({
      endpoint: dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const tables = await createTables(admin, opts.tablePrefix ?? 'livecast').finally(() => admin.destroy());

    // The handlers' and workers' DynamoDB: through the fault proxy when faults are on. The stream
    // pollers and `stage.dynamoEndpoint` stay direct: they stand for AWS's side, not our code.
    const faultProxy = await startFaultProxy(opts, host, log, dynamoEndpoint, tables);
    if (faultProxy) stoppers.push(() => faultProxy.close());
    const handlersDynamoEndpoint = faultProxy?.endpoint ?? dynamoEndpoint;
    const storage = await startStorage(opts, host, log, stoppers);

    // Before the first handler import: the X-Ray SDK (bundled into publish and the worker) enables
    // a process-wide async hook with destroy tracking at import, unless in manual mode, and every
    // promise of the process pays for it. Tracing is off here (POWERTOOLS_TRACE_ENABLED below), so
    // nothing needs that context. Measured: in a profile of a sockets run, async hooks took ~8% of
    // the stage's and the workers' busy CPU, plus the GC of their destroy tracking; the cost bench
    // with the SDK preloaded, 165 against 106 µs a post for the worker path (quick runs). Worker
    // environments forked later inherit it. On AWS the traced functions keep automatic mode.
    process.env.AWS_XRAY_MANUAL_MODE ??= '1';
    const ws = await startWs(opts, host, log, unavailable);
    stoppers.push(() => ws.close());

    const workers = await startWorkers(opts, host, log, faultProxy, storage, stoppers);
    const metricsFile = prepareMetricsFile(opts, stoppers);

    // The handlers read their configuration on first use, as a Lambda container does.
    Object.assign(process.env, functionEnv(opts, tables, handlersDynamoEndpoint, ws, workers, storage, metricsFile));
    resetContainer();
    resetTelemetry();
    // Environments forked now inherit the configuration just set, and the first update does not wait for them.
    await workers.processes?.warm();

    streams.push(
      ...(await startStreamConsumers(opts, log, dynamoEndpoint, tables, workers.functions, storage, stoppers)),
    );
    const changes = streams[streamTriggers.findIndex((t) => t.id === deliveryWake.id)]!;
    await startSchedules(opts, log, stoppers);

    const http = await startHttpGateway({
      port: opts.httpPort,
      host,
      routes: await Promise.all(httpRoutes.map(async (r) => ({ routeKey: r.routeKey, invoke: await load(r) }))),
      fallback: fallbacks(
        servedImages({ s3Endpoint: storage.s3.endpoint, bucket: storage.imagesBucket }),
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
    storage.pages.port = new URL(http.url).port;

    const { lambda, processes } = workers;
    return {
      metricsFile,
      httpUrl: http.url,
      wsUrl: ws.url,
      managementEndpoint: ws.managementEndpoint,
      dynamoEndpoint,
      sqs: storage.sqs,
      s3: storage.s3,
      imagesBucket: storage.imagesBucket,
      failureQueues: storage.queueUrls,
      dynamo,
      tables,
      ws,
      lambda,
      changes,
      streams,
      faultStats: () => ({
        dynamo: faultProxy ? { ...faultProxy.stats(), seed: faultProxy.seed } : undefined,
        workersKilled: processes?.killed() ?? 0,
      }),
      killWorker: (pid) => processes?.kill(pid),
      workerPids: () => processes?.pids() ?? [],
      settled: async (timeoutMs = 30_000) => {
        for (const s of streams) await s.drain(timeoutMs);
        await lambda.idle(timeoutMs);
      },
      stop,
      kill: () => {
        dynamo?.kill();
        for (const pid of processes?.pids() ?? []) {
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

/** The configuration the handlers read, as the CDK stack sets it on each function, pointing at the stand-ins. */
function functionEnv(
  opts: StageOptions,
  tables: TableNames,
  handlersDynamoEndpoint: string,
  ws: WsGateway,
  workers: Workers,
  storage: Storage,
  metricsFile: string,
): Record<string, string> {
  return {
    ...tableEnv(tables),
    AWS_REGION: 'us-east-1',
    [ENV.dynamoEndpoint]: handlersDynamoEndpoint,
    [ENV.connectionsEndpoint]: opts.connectionsEndpoint ?? ws.managementEndpoint,
    [ENV.lambdaEndpoint]: workers.lambda.endpoint,
    [ENV.workerFunction]: workers.workerFn,
    [ENV.adminKey]: opts.adminKey,
    [ENV.sqsEndpoint]: storage.sqs.endpoint,
    [ENV.s3Endpoint]: storage.s3.endpoint,
    [ENV.imagesBucket]: storage.imagesBucket,
    // Deployed, CloudFront serves the bucket's images/ prefix; here the HTTP port does (local/served-images.ts),
    // so image URLs are relative to the HTTP API's origin — the pages' own, as the protocol allows.
    [ENV.imagesBaseUrl]: '/',
    [ENV.streamFailuresQueueUrl]: storage.queueUrls.streams,
    [ENV.workerFailuresQueueUrl]: storage.queueUrls.worker,
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
  };
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
