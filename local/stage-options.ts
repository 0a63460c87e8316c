// What startStage (local/stage.ts) takes: ports, DynamoDB Local, and the seams tests and benchmarks use.
import type { AwsLimits } from './aws-limits';
import type { DynamoLocalEvent } from './dynamodb-local';
import type { StageFaults } from './faults';
import type { Invoke } from './lambda-context';
import type { WsGatewayOptions } from './ws-gateway';

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
