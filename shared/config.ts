// Runtime configuration: read once from the environment, validated, then passed in.
import { z } from 'zod';
import { connectionsTable, entriesTable, eventsTable, requestsTable } from './tables';

/** Environment variable names, shared by the CDK stack, the local stage and the functions. */
export const ENV = {
  region: 'AWS_REGION',
  dynamoEndpoint: 'LIVECAST_DYNAMODB_ENDPOINT',
  connectionsEndpoint: 'LIVECAST_CONNECTIONS_ENDPOINT',
  adminKey: 'LIVECAST_ADMIN_KEY',
  adminKeySecretArn: 'LIVECAST_ADMIN_KEY_SECRET_ARN',
  local: 'LIVECAST_LOCAL',
  fanoutConcurrency: 'LIVECAST_FANOUT_CONCURRENCY',
  logLevel: 'LIVECAST_LOG_LEVEL',
} as const;

const schema = z.object({
  region: z.string().min(1).default('us-east-1'),
  tables: z.object({
    events: z.string().min(1),
    entries: z.string().min(1),
    requests: z.string().min(1),
    connections: z.string().min(1),
  }),
  dynamoEndpoint: z.url().optional(),
  connectionsEndpoint: z.url().optional(),
  adminKey: z.string().min(16).optional(),
  adminKeySecretArn: z.string().min(1).optional(),
  /** The local stage: static dummy credentials, plain-HTTP endpoints. */
  local: z.boolean(),
  fanoutConcurrency: z.coerce.number().int().min(1).max(1000).default(32),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse({
    region: env[ENV.region] || undefined,
    tables: {
      events: env[eventsTable.envVar],
      entries: env[entriesTable.envVar],
      requests: env[requestsTable.envVar],
      connections: env[connectionsTable.envVar],
    },
    dynamoEndpoint: env[ENV.dynamoEndpoint] || undefined,
    connectionsEndpoint: env[ENV.connectionsEndpoint] || undefined,
    adminKey: env[ENV.adminKey] || undefined,
    adminKeySecretArn: env[ENV.adminKeySecretArn] || undefined,
    local: env[ENV.local] === '1' || env[ENV.local] === 'true',
    fanoutConcurrency: env[ENV.fanoutConcurrency] || undefined,
    logLevel: env[ENV.logLevel] || undefined,
  });
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid livecast configuration: ${detail}`);
  }
  return parsed.data;
}

/** The environment a deployment or the local stage hands to every function, given table names. */
export function tableEnv(names: { events: string; entries: string; requests: string; connections: string }) {
  return {
    [eventsTable.envVar]: names.events,
    [entriesTable.envVar]: names.entries,
    [requestsTable.envVar]: names.requests,
    [connectionsTable.envVar]: names.connections,
  };
}
