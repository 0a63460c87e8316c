// The local stage's parts, each started as startStage (local/stage.ts) wires them: DynamoDB Local,
// the fault proxy, the failure queues and the photos' bucket, the WebSocket gateway, the delivery
// workers behind the Lambda Invoke API, the stream consumers and the schedules.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TABLES, type TableKey } from '../shared/config';
import {
  deliveryWake,
  deliveryWorker,
  HANDSHAKE_MAX_MS,
  failureQueues,
  scheduled,
  streamTriggers,
  wsAuthorizer,
  wsRoutes,
  type FunctionDef,
} from '../shared/routes';
import type { TableNames } from './create-tables';
import { type DynamoFaultProxy, startDynamoFaultProxy, validateDynamoFaults } from './dynamo-faults';
import { type DynamoLocal, startDynamoLocal } from './dynamodb-local';
import { tableIds } from './faults';
import { asFunction } from './grants';
import { lambdaContext, type Invoke } from './lambda-context';
import { lambdaProcesses, type LambdaProcesses } from './lambda-processes';
import { type LambdaService, startLambdaService } from './lambda-service';
import { type S3Storage, startS3Storage } from './s3-storage';
import { type SqsService, startSqsService } from './sqs';
import type { StageOptions } from './stage-options';
import { type StreamSource, startStreamSource } from './stream-source';
import { startWsGateway, type WsGateway } from './ws-gateway';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** Run by stop(), in the reverse of the order they were added. */
export type Stopper = () => Promise<void>;

export async function load(def: FunctionDef): Promise<Invoke> {
  const mod = (await import(pathToFileURL(resolve(ROOT, def.entry)).href)) as { handler?: Invoke };
  const handler = mod.handler;
  if (typeof handler !== 'function') throw new Error(`${def.entry} does not export a handler`);
  // Run as the function: its DynamoDB calls are checked against its declared grants (local/grants.ts).
  return (event, context) => asFunction(def, () => handler(event, context ?? lambdaContext(def.id)));
}

/** DynamoDB Local, when the stage is to start it (`dynamo: {port}`); undefined when given an endpoint. */
export async function startOwnDynamo(
  opts: StageOptions,
  host: string,
  log: (line: string) => void,
  streams: readonly StreamSource[],
): Promise<DynamoLocal | undefined> {
  if ('endpoint' in opts.dynamo) return undefined;
  // After a restart the consumers resume after the last record each read (see StreamSource.reattach).
  const reattachStreams = async () => {
    const results = await Promise.allSettled(streams.map((s) => s.reattach()));
    for (const r of results)
      if (r.status === 'rejected')
        log(`re-attach failed: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  };
  return startDynamoLocal({
    port: opts.dynamo.port,
    host,
    ...(opts.dynamo.dbPath ? { dbPath: opts.dynamo.dbPath } : {}),
    log,
    onEvent: (event) => {
      if (event.type === 'restarted') void reattachStreams();
      opts.onDynamo?.(event);
    },
  });
}

export async function startFaultProxy(
  opts: StageOptions,
  host: string,
  log: (line: string) => void,
  upstream: string,
  tables: TableNames,
): Promise<DynamoFaultProxy | undefined> {
  if (!opts.faults?.dynamo) return undefined;
  // A table named wrong would quietly inject nothing.
  validateDynamoFaults(opts.faults.dynamo, tableIds);
  const idOf = new Map((Object.keys(tables) as TableKey[]).map((k) => [tables[k], TABLES[k].id]));
  return startDynamoFaultProxy({
    upstream,
    faults: opts.faults.dynamo,
    host,
    tableIdOf: (name) => idOf.get(name) ?? name,
    log,
  });
}

export interface Storage {
  readonly sqs: SqsService;
  readonly queueUrls: { readonly streams: string; readonly worker: string };
  readonly s3: S3Storage;
  readonly imagesBucket: string;
  /** The HTTP port, once it listens: the pages' origin, which the bucket's CORS rule lets in. */
  readonly pages: { port: string | undefined };
  /** Sends a failure record to a queue, as an on-failure destination does. */
  sendTo(queueUrl: string): (record: unknown) => Promise<void>;
}

/** The failure queues (SQS) and the photos' bucket (S3). */
export async function startStorage(
  opts: StageOptions,
  host: string,
  log: (line: string) => void,
  stoppers: Stopper[],
): Promise<Storage> {
  // Where failures go (AWS: the on-failure destinations): a stream batch given up, a worker
  // invocation whose retries failed. Started first so it stops last, after everything that sends.
  const sqs = await startSqsService({ port: opts.sqsPort ?? 0, host, log });
  stoppers.push(() => sqs.close());
  const queueUrls = {
    streams: sqs.createQueue(failureQueues.streams.id),
    worker: sqs.createQueue(failureQueues.worker.id),
  };
  // The photos' bucket (AWS: the Data stack's Images bucket). One per stage, as the tables are.
  const imagesBucket = `${(opts.tablePrefix ?? 'livecast').toLowerCase()}-images`;
  // The bucket's CORS rule, as deployed (infra/stateful-stack.ts): the pages' origin may POST uploads.
  // Here that is the HTTP port (it serves the pages), on whatever host the browser used (a phone on the LAN).
  const pages: { port: string | undefined } = { port: undefined };
  const corsOrigin = (origin: string) => {
    try {
      const url = new URL(origin);
      return pages.port !== undefined && url.protocol === 'http:' && url.port === pages.port;
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
  return { sqs, queueUrls, s3, imagesBucket, pages, sendTo };
}

export async function startWs(
  opts: StageOptions,
  host: string,
  log: (line: string) => void,
  unavailable: () => string | undefined,
): Promise<WsGateway> {
  const authorizer = { identitySource: wsAuthorizer.identitySource, invoke: await load(wsAuthorizer) };
  const routes = new Map<string, { invoke: Invoke; returnResponse: boolean }>();
  for (const route of wsRoutes)
    routes.set(route.routeKey, { invoke: await load(route), returnResponse: route.returnResponse });
  return startWsGateway({
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
}

export interface Workers {
  readonly workerFn: string;
  readonly lambda: LambdaService;
  /** The worker environments, when they run in child processes. */
  readonly processes: LambdaProcesses | undefined;
  /** What the Lambda Invoke API runs, by function name; the stream triggers are added later. */
  readonly functions: Map<string, Invoke>;
}

/**
 * Delivery workers run as asynchronous Lambda invocations. Their context counts down from
 * Lambda's 15 minutes, and to zero when the stage stops, so a running worker hands over and ends.
 */
export async function startWorkers(
  opts: StageOptions,
  host: string,
  log: (line: string) => void,
  faultProxy: DynamoFaultProxy | undefined,
  storage: Storage,
  stoppers: Stopper[],
): Promise<Workers> {
  let stopping = false;
  const workerFn = `livecast-local-${deliveryWorker.id}`;
  const workerTimeoutMs = deliveryWorker.timeoutSeconds * 1000;
  let processes: LambdaProcesses | undefined;
  let workerInvoke: Invoke;
  const killEveryMs = opts.faults?.killWorkersEveryMs;
  if (killEveryMs !== undefined && !opts.workerProcesses) {
    throw new Error(
      'faults.killWorkersEveryMs (LIVECAST_FAULT_KILL_WORKERS_MS) needs the workers in child processes: set workerProcesses (LIVECAST_WORKER_PROCESSES) to 1 or more',
    );
  }
  const killSeed = opts.faults?.seed ?? faultProxy?.seed;
  if (opts.workerProcesses) {
    const children = lambdaProcesses({
      module: resolve(ROOT, deliveryWorker.entry),
      functionName: workerFn,
      timeoutMs: workerTimeoutMs,
      processes: opts.workerProcesses,
      ...(killEveryMs !== undefined ? { killEveryMs } : {}),
      ...(killSeed !== undefined ? { seed: killSeed } : {}),
      log,
    });
    processes = children;
    workerInvoke = (event) => children.invoke(event, lambdaContext(workerFn));
  } else {
    const inProcess = await load(deliveryWorker);
    workerInvoke = (event: unknown) => {
      const context = lambdaContext(workerFn, { timeoutMs: workerTimeoutMs });
      const remaining = () => context.getRemainingTimeInMillis();
      return inProcess(event, { ...context, getRemainingTimeInMillis: () => (stopping ? 0 : remaining()) });
    };
  }
  // The stream triggers are added later: the redrive invokes them by name, as on AWS.
  const functions = new Map<string, Invoke>([[workerFn, workerInvoke]]);
  const lambda = await startLambdaService({
    port: 0,
    host,
    functions,
    asyncOnFailure: new Map([[workerFn, storage.sendTo(storage.queueUrls.worker)]]),
    ...(opts.asyncRetryDelaysMs ? { asyncRetryDelaysMs: opts.asyncRetryDelaysMs } : {}),
    log,
  });
  stoppers.push(async () => {
    stopping = true;
    // Running workers see their time run out, hand over and end; then the service stops.
    await Promise.all([lambda.close(), processes?.stop()]);
  });
  return { workerFn, lambda, processes, functions };
}

/** The file the functions' metrics go to: the one asked for, else one in a temporary folder removed on stop. */
export function prepareMetricsFile(opts: StageOptions, stoppers: Stopper[]): string {
  let metricsFile = opts.metricsFile;
  if (!metricsFile) {
    const dir = mkdtempSync(join(tmpdir(), 'livecast-metrics-'));
    // Removed last (stoppers run in reverse): a worker ending during the stop still flushes its metrics.
    stoppers.unshift(async () => rmSync(dir, { recursive: true, force: true }));
    metricsFile = join(dir, 'metrics.ndjson');
  }
  writeFileSync(metricsFile, '', { flag: 'a' });
  return metricsFile;
}

/** A stream consumer per trigger in shared/routes.ts, configured as the stack configures its event-source mapping. */
export async function startStreamConsumers(
  opts: StageOptions,
  log: (line: string) => void,
  dynamoEndpoint: string,
  tables: TableNames,
  functions: Map<string, Invoke>,
  storage: Storage,
  stoppers: Stopper[],
): Promise<StreamSource[]> {
  const streams: StreamSource[] = [];
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
      onFailure: storage.sendTo(storage.queueUrls.streams),
      log,
    });
    streams.push(source);
    stoppers.push(() => source.stop());
  }
  return streams;
}

/**
 * EventBridge's schedules: one invocation at a time each (a slow run skips the next tick). A run
 * that loops for most of its minute (the delivery watchdog) sees its time run out when the stage
 * stops, and the stop waits for it.
 */
export async function startSchedules(
  opts: StageOptions,
  log: (line: string) => void,
  stoppers: Stopper[],
): Promise<void> {
  for (const def of scheduled) {
    const invoke = await load(def);
    let running: Promise<unknown> | undefined;
    let stopped = false;
    const timer = setInterval(
      () => {
        if (running) return;
        const context = lambdaContext(def.id, def.timeoutSeconds ? { timeoutMs: def.timeoutSeconds * 1000 } : {});
        const remaining = () => context.getRemainingTimeInMillis();
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
}
