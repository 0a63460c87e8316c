// Runtime configuration: read once from the environment, validated, then passed in.
import * as z from 'zod';
import { defaultSpikeRules, MAX_DISTINCT_PER_SECOND, type SpikeRules } from './domain/reposts/spike-detector';
import {
  budgetTable,
  changesTable,
  connectionsTable,
  deliveryTable,
  entriesTable,
  eventsTable,
  limitsTable,
  repostCountsTable,
  repostsTable,
  requestsTable,
} from './tables';

/** Every table under the name the configuration gives it. */
export const TABLES = {
  events: eventsTable,
  entries: entriesTable,
  changes: changesTable,
  requests: requestsTable,
  connections: connectionsTable,
  delivery: deliveryTable,
  reposts: repostsTable,
  repostCounts: repostCountsTable,
  limits: limitsTable,
  budget: budgetTable,
} as const;

export type TableKey = keyof typeof TABLES;
export type TableNames = Record<TableKey, string>;
const tableKeys = Object.keys(TABLES) as TableKey[];

/** Environment variable names, shared by the CDK stack, the local stage and the functions. */
export const ENV = {
  region: 'AWS_REGION',
  dynamoEndpoint: 'LIVECAST_DYNAMODB_ENDPOINT',
  connectionsEndpoint: 'LIVECAST_CONNECTIONS_ENDPOINT',
  adminKey: 'LIVECAST_ADMIN_KEY',
  adminKeySecretArn: 'LIVECAST_ADMIN_KEY_SECRET_ARN',
  local: 'LIVECAST_LOCAL',
  lambdaEndpoint: 'LIVECAST_LAMBDA_ENDPOINT',
  workerFunction: 'LIVECAST_WORKER_FUNCTION',
  deliveryBudget: 'LIVECAST_DELIVERY_BUDGET',
  /** `off`: no budget ledger, each worker at B ÷ 16 (the behaviour before issue 13; benchmarks compare the two). */
  budgetLedger: 'LIVECAST_BUDGET_LEDGER',
  postTransport: 'LIVECAST_POST_TRANSPORT',
  workerIdleMs: 'LIVECAST_WORKER_IDLE_MS',
  workerMaxRunMs: 'LIVECAST_WORKER_MAX_RUN_MS',
  workerInFlight: 'LIVECAST_WORKER_IN_FLIGHT',
  logLevel: 'LIVECAST_LOG_LEVEL',
  spikeSweepQuietMs: 'LIVECAST_SPIKE_SWEEP_QUIET_MS',
  /** The local stage's S3 stand-in (deployed: unset, the real S3). */
  s3Endpoint: 'LIVECAST_S3_ENDPOINT',
  /** The photos' bucket: uploads under `uploads/`, published images under `images/`. */
  imagesBucket: 'LIVECAST_IMAGES_BUCKET',
  /** Where `images/<key>` is served from, without a trailing slash (deployed: the CloudFront distribution). */
  imagesBaseUrl: 'LIVECAST_IMAGES_BASE_URL',
  /**
   * Deployed instead of the base URL: the SSM parameter the Web stack writes it to (the distribution's
   * domain is known only once the Web stack, which deploys after the API, exists).
   */
  imagesBaseUrlParameter: 'LIVECAST_IMAGES_BASE_URL_PARAMETER',
  /** Photo uploads one event's token may ask for: per minute and per day; and per source address per minute. */
  imageUploadsPerMinute: 'LIVECAST_IMAGE_UPLOADS_PER_MINUTE',
  imageUploadsPerDay: 'LIVECAST_IMAGE_UPLOADS_PER_DAY',
  imageUploadsPerAddress: 'LIVECAST_IMAGE_UPLOADS_PER_ADDRESS',
  /** The local stage's SQS stand-in (deployed: the real SQS). */
  sqsEndpoint: 'LIVECAST_SQS_ENDPOINT',
  /** The key viewer ids are signed with: locally the value itself, deployed a Secrets Manager secret. */
  viewerSecret: 'LIVECAST_VIEWER_SECRET',
  viewerSecretArn: 'LIVECAST_VIEWER_SECRET_ARN',
  viewerIdsPerMinute: 'LIVECAST_VIEWER_IDS_PER_MINUTE',
  viewerIdsPerDay: 'LIVECAST_VIEWER_IDS_PER_DAY',
  /** @connections posts all `sync` replies to one source address may take a minute (shared/domain/limits/allowances.ts). */
  syncPostsPerAddress: 'LIVECAST_SYNC_POSTS_PER_ADDRESS',
  /** JSON: spike rules to change from the defaults (shared/domain/reposts/spike-detector.ts), e.g. {"minSources":3}. */
  spikeRules: 'LIVECAST_SPIKE_RULES',
  /** The failure queues (shared/routes.ts failureQueues): stream batches given up, failed async worker invocations. */
  streamFailuresQueueUrl: 'LIVECAST_STREAM_FAILURES_QUEUE_URL',
  workerFailuresQueueUrl: 'LIVECAST_WORKER_FAILURES_QUEUE_URL',
  /** The pages' origin (`https://live.example.com`): where feeds and snapshots link to. Unset: the request's own origin (the local stage serves both). */
  siteOrigin: 'LIVECAST_SITE_ORIGIN',
  /**
   * embed: the sites that may show /embed/{eventId} in a frame (CSP `frame-ancestors` sources,
   * space- or comma-separated; default `'self'`). Read by the local pages server; deployed, the CDK
   * context `embedAncestors` says it (infra/stages.ts). Every other page may be framed by itself only.
   */
  embedAncestors: 'LIVECAST_EMBED_ANCESTORS',
} as const;

/** Who may frame the pages other than the embed: themselves only. */
export const PAGE_FRAME_ANCESTORS = ["'self'"] as const;

// A CSP source that names who may frame: 'self', 'none' (alone), a scheme (https:) or a scheme and
// host with an optional leading *. and port. No paths, quotes, semicolons or commas: nothing that
// could end the directive and start another.
const FRAME_SOURCE = /^(?:'self'|'none'|https?:|https?:\/\/(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::\d{1,5})?)$/;

/**
 * The embed's `frame-ancestors` sources from a setting (`LIVECAST_EMBED_ANCESTORS`, CDK context
 * `embedAncestors`): whitespace- or comma-separated; empty or unset is `'self'`. Anything that is
 * not a source this accepts is refused with the source named, so a typo never deploys a policy
 * that frames nothing (or everything).
 */
export function parseFrameAncestors(value: string | undefined): string[] {
  const sources = (value ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((s) => (s.startsWith("'") ? s.toLowerCase() : s.toLowerCase().replace(/\/+$/, '')));
  if (sources.length === 0) return [...PAGE_FRAME_ANCESTORS];
  for (const source of sources) {
    if (!FRAME_SOURCE.test(source)) {
      throw new Error(
        `embed frame ancestors: ${JSON.stringify(source)} is not a source: expected 'self', 'none', https: or https://host[:port] (https://*.example.com for its subdomains)`,
      );
    }
  }
  if (sources.includes("'none'") && sources.length > 1) throw new Error("embed frame ancestors: 'none' stands alone");
  return [...new Set(sources)];
}

const schema = z.object({
  region: z.string().min(1).default('us-east-1'),
  tables: z.object(Object.fromEntries(tableKeys.map((k) => [k, z.string().min(1)])) as Record<TableKey, z.ZodString>),
  dynamoEndpoint: z.url().optional(),
  connectionsEndpoint: z.url().optional(),
  adminKey: z.string().min(16).optional(),
  adminKeySecretArn: z.string().min(1).optional(),
  /** The local stage: static dummy credentials, plain-HTTP endpoints. */
  local: z.boolean(),
  /** The local stage's Lambda Invoke API (deployed: the real one). */
  lambdaEndpoint: z.url().optional(),
  /** The delivery worker function that the wake-up trigger starts. */
  workerFunction: z.string().min(1).optional(),
  /**
   * @connections requests per second that delivery may spend, across all shards of an event: a safe
   * share of the account's 10,000/s (inbound WebSocket messages and the HTTP API spend the rest).
   */
  deliveryBudget: z.coerce.number().positive().max(1_000_000).default(7_000),
  /**
   * Share B through the budget ledger (`on`), or pace every worker at B ÷ 16 whatever the other
   * events do (`off`: today's behaviour before issue 13, kept so `npm run bench -- events` can run
   * it side by side; K events then offer K × B).
   */
  budgetLedger: z
    .enum(['on', 'off'])
    .default('on')
    .transform((v) => v === 'on'),
  /** `signed`: the lean SigV4 poster; `sdk`: the SDK's PostToConnectionCommand (for comparison). */
  postTransport: z.enum(['signed', 'sdk']).default('signed'),
  workerIdleMs: z.coerce.number().int().min(0).default(10_000),
  /** A worker hands over to a fresh invocation after this long (before Lambda's 15 minutes; tests make it short). */
  workerMaxRunMs: z.coerce
    .number()
    .int()
    .min(100)
    .max(14 * 60_000)
    .default(13 * 60_000),
  workerInFlight: z.coerce.number().int().min(1).max(1_000).default(64),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** The spike sweep leaves an event alone while its series has seconds this recent (the tally judges those). */
  spikeSweepQuietMs: z.coerce.number().int().min(0).default(60_000),
  sqsEndpoint: z.url().optional(),
  s3Endpoint: z.url().optional(),
  imagesBucket: z.string().min(3).optional(),
  /** An absolute URL, or `/`: image URLs then start at the HTTP API's origin (`/images/…`, the local stage). */
  imagesBaseUrl: z
    .union([z.url(), z.literal('/')])
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  imagesBaseUrlParameter: z
    .string()
    .regex(/^\/[\w./-]+$/, 'an SSM parameter name starting with /')
    .optional(),
  /**
   * A reporter attaches up to 4 photos to an update and sends one every few seconds at the busiest:
   * 120 a minute is an update every 2 s with 4 photos. Each presign lets 10 MB into the bucket, so
   * these bound what a leaked token can store: 1.2 GB a minute, 20 GB a day, all expiring within a
   * day unless published. Per address: the same script trying many events (or a wrong token) at once.
   */
  imageUploadsPerMinute: z.coerce.number().int().min(1).default(120),
  imageUploadsPerDay: z.coerce.number().int().min(1).default(2_000),
  imageUploadsPerAddress: z.coerce.number().int().min(1).default(240),
  streamFailuresQueueUrl: z.url().optional(),
  workerFailuresQueueUrl: z.url().optional(),
  viewerSecret: z.string().min(32, 'the viewer id secret must be at least 32 characters').optional(),
  siteOrigin: z
    .string()
    .regex(
      /^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/,
      'the site origin is a scheme and a host (and port), no path: https://live.example.com',
    )
    .optional(),
  viewerSecretArn: z.string().min(1).optional(),
  /**
   * Viewer ids issued per source address (IPv4 /32, IPv6 /64): per minute, for a venue crowd
   * arriving at once behind one Wi-Fi address (600: 5,000 phones in under ten minutes); per day, the
   * most one address can ever count as (a sold-out hall of 10,000 behind one address still counts).
   */
  viewerIdsPerMinute: z.coerce.number().int().min(1).default(600),
  viewerIdsPerDay: z.coerce.number().int().min(1).default(10_000),
  syncPostsPerAddress: z.coerce.number().int().min(1).default(6_000),
  spikeRules: z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .object({
          alpha: z.number().gt(0).max(1),
          startFactor: z.number().positive(),
          endFactor: z.number().positive(),
          minPerSecond: z.number().int().min(1),
          quietSeconds: z.number().int().min(1),
          warmupSeconds: z.number().int().min(0),
          minViewers: z.number().int().min(1).max(MAX_DISTINCT_PER_SECOND),
          minSources: z.number().int().min(1).max(MAX_DISTINCT_PER_SECOND),
        })
        .partial()
        .strict(),
    )
    .transform((partial): SpikeRules => ({ ...defaultSpikeRules, ...partial }))
    .optional(),
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse({
    region: env[ENV.region] || undefined,
    tables: Object.fromEntries(tableKeys.map((k) => [k, env[TABLES[k].envVar]])),
    dynamoEndpoint: env[ENV.dynamoEndpoint] || undefined,
    connectionsEndpoint: env[ENV.connectionsEndpoint] || undefined,
    adminKey: env[ENV.adminKey] || undefined,
    adminKeySecretArn: env[ENV.adminKeySecretArn] || undefined,
    local: env[ENV.local] === '1' || env[ENV.local] === 'true',
    lambdaEndpoint: env[ENV.lambdaEndpoint] || undefined,
    // Inside the worker itself, Lambda names the function.
    workerFunction: env[ENV.workerFunction] || env.AWS_LAMBDA_FUNCTION_NAME || undefined,
    deliveryBudget: env[ENV.deliveryBudget] || undefined,
    budgetLedger: env[ENV.budgetLedger] || undefined,
    postTransport: env[ENV.postTransport] || undefined,
    workerIdleMs: env[ENV.workerIdleMs] || undefined,
    workerMaxRunMs: env[ENV.workerMaxRunMs] || undefined,
    workerInFlight: env[ENV.workerInFlight] || undefined,
    logLevel: env[ENV.logLevel] || undefined,
    spikeSweepQuietMs: env[ENV.spikeSweepQuietMs] || undefined,
    ...failureSettings(env),
    s3Endpoint: env[ENV.s3Endpoint] || undefined,
    imagesBucket: env[ENV.imagesBucket] || undefined,
    imagesBaseUrl: env[ENV.imagesBaseUrl] || undefined,
    imagesBaseUrlParameter: env[ENV.imagesBaseUrlParameter] || undefined,
    imageUploadsPerMinute: env[ENV.imageUploadsPerMinute] || undefined,
    imageUploadsPerDay: env[ENV.imageUploadsPerDay] || undefined,
    imageUploadsPerAddress: env[ENV.imageUploadsPerAddress] || undefined,
    viewerSecret: env[ENV.viewerSecret] || undefined,
    viewerSecretArn: env[ENV.viewerSecretArn] || undefined,
    viewerIdsPerMinute: env[ENV.viewerIdsPerMinute] || undefined,
    viewerIdsPerDay: env[ENV.viewerIdsPerDay] || undefined,
    syncPostsPerAddress: env[ENV.syncPostsPerAddress] || undefined,
    spikeRules: env[ENV.spikeRules] || undefined,
    siteOrigin: env[ENV.siteOrigin] || undefined,
  });
  if (!parsed.success) throw configError(parsed.error);
  return parsed.data;
}

/**
 * Just the log level, for the logger built before the rest of the configuration is (the first
 * thing an invocation does is set up its log keys); an invalid value fails as loadConfig would.
 */
export function loadLogLevel(env: NodeJS.ProcessEnv = process.env): Config['logLevel'] {
  const parsed = schema.shape.logLevel.safeParse(env[ENV.logLevel] || undefined);
  if (!parsed.success) throw configError(parsed.error);
  return parsed.data;
}

function configError(error: z.ZodError): ConfigError {
  const detail = error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  return new ConfigError(`invalid livecast configuration: ${detail}`);
}

const failureSettings = (env: NodeJS.ProcessEnv) => ({
  sqsEndpoint: env[ENV.sqsEndpoint] || undefined,
  streamFailuresQueueUrl: env[ENV.streamFailuresQueueUrl] || undefined,
  workerFailuresQueueUrl: env[ENV.workerFailuresQueueUrl] || undefined,
});

/** What `npm run redrive` needs: the failure queues, and where to re-read streams and re-invoke functions. No tables. */
const redriveSchema = schema.pick({
  region: true,
  local: true,
  dynamoEndpoint: true,
  lambdaEndpoint: true,
  sqsEndpoint: true,
  streamFailuresQueueUrl: true,
  workerFailuresQueueUrl: true,
});

export type RedriveConfig = z.infer<typeof redriveSchema>;

export function loadRedriveConfig(env: NodeJS.ProcessEnv = process.env): RedriveConfig {
  const parsed = redriveSchema.safeParse({
    region: env[ENV.region] || undefined,
    local: env[ENV.local] === '1' || env[ENV.local] === 'true',
    dynamoEndpoint: env[ENV.dynamoEndpoint] || undefined,
    lambdaEndpoint: env[ENV.lambdaEndpoint] || undefined,
    ...failureSettings(env),
  });
  if (!parsed.success) throw configError(parsed.error);
  return parsed.data;
}

/** The environment a deployment or the local stage hands to every function, given table names. */
export function tableEnv(names: TableNames): Record<string, string> {
  return Object.fromEntries(tableKeys.map((k) => [TABLES[k].envVar, names[k]]));
}
