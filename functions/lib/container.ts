// Everything a handler needs, built once per container on first use (never at import time).
import {
  createDynamoClient,
  createLambdaClient,
  createManagementClient,
  createSecretsClient,
} from '../../shared/adapters/aws-clients';
import { type AdminKeySource, secretAdminKey, staticAdminKey } from '../../shared/adapters/admin-key';
import { DynamoConnectionStore } from '../../shared/adapters/dynamo-connection-store';
import { DynamoEntryStore } from '../../shared/adapters/dynamo-entry-store';
import { DynamoEventStore } from '../../shared/adapters/dynamo-event-store';
import { DynamoLeaseStore } from '../../shared/adapters/dynamo-lease-store';
import { DynamoRateLimitStore } from '../../shared/adapters/dynamo-rate-limit-store';
import { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import { LambdaWorkerStarter } from '../../shared/adapters/lambda-worker-starter';
import { ManagementApiGateway } from '../../shared/adapters/management-gateway';
import { SignedPoster } from '../../shared/adapters/signed-poster';
import { type Config, loadConfig } from '../../shared/config';
import { type ChangeLog, SharedChangeLog } from '../../shared/domain/delivery/shared-change-log';
import { EventService } from '../../shared/domain/event-service';
import { RateLimiter } from '../../shared/domain/limits/rate-limiter';
import { LiveService } from '../../shared/domain/live-service';
import { RepostService } from '../../shared/domain/reposts/repost-service';
import type {
  ConnectionGateway,
  ConnectionStore,
  DeliveryWatch,
  EntryStore,
  EventStore,
  LeaseStore,
  Logger,
  RepostStore,
  WorkerStarter,
} from '../../shared/domain/ports';
import { createLogger } from '../../shared/logger';
import { traced } from '../../shared/observability/telemetry';

export interface Container {
  config: Config;
  log: Logger;
  events: EventService;
  live: LiveService;
  reposts: RepostService;
  repostStore: RepostStore;
  eventStore: EventStore;
  entries: EntryStore;
  /** The change log as delivery workers poll it: one read answers every worker of this container asking within 50 ms. */
  changeLog: ChangeLog;
  connections: ConnectionStore;
  leases: LeaseStore;
  /** The delivery watchdog's list of live events and view of the shards (the lease items' table). */
  watch: DeliveryWatch;
  /** Replies to one connection (acks, sync): the SDK client. */
  gateway: ConnectionGateway;
  /** The fan-out's hot path: the lean signed poster unless configured otherwise. */
  deliveryGateway: ConnectionGateway;
  workers: WorkerStarter;
  adminKey: AdminKeySource;
  /** Per-connection and per-address allowances, counted in the Limits table. */
  limiter: RateLimiter;
}

/** Defers building a client until first use: most functions never touch most clients. */
function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

export function buildContainer(config: Config): Container {
  const log = createLogger(config.logLevel);
  const clock = () => new Date();
  const db = traced(createDynamoClient(config));
  const eventStore = new DynamoEventStore(db, config.tables.events);
  const entries = new DynamoEntryStore(db, config.tables);
  const connections = new DynamoConnectionStore(db, config.tables, clock);
  const repostStore = new DynamoRepostStore(db, config.tables);
  const management = lazy(() => traced(createManagementClient(config)));
  const sdkGateway = lazy(() => new ManagementApiGateway(management()));
  const signedPoster = lazy(
    () =>
      new SignedPoster({
        endpoint: config.connectionsEndpoint ?? '',
        region: config.region,
        credentials: () => management().config.credentials(),
        maxSockets: config.workerInFlight * 2,
      }),
  );
  const gateway: ConnectionGateway = { post: (id, payload) => sdkGateway().post(id, payload) };
  const deliveryGateway: ConnectionGateway =
    config.postTransport === 'sdk' ? gateway : { post: (id, payload) => signedPoster().post(id, payload) };
  const starter = lazy(() => {
    if (!config.workerFunction) throw new Error('LIVECAST_WORKER_FUNCTION is not set');
    return new LambdaWorkerStarter(traced(createLambdaClient(config)), config.workerFunction);
  });
  const leases = new DynamoLeaseStore(db, config.tables.delivery);
  const adminKey = config.adminKey
    ? staticAdminKey(config.adminKey)
    : config.adminKeySecretArn
      ? secretAdminKey(createSecretsClient(config), config.adminKeySecretArn)
      : { get: () => Promise.reject(new Error('no admin key configured')) };
  return {
    config,
    log,
    events: new EventService({ events: eventStore, entries, clock, reposts: repostStore }),
    live: new LiveService({ events: eventStore, entries, reposts: repostStore, gateway, clock, log }),
    reposts: new RepostService({ entries, reposts: repostStore, now: Date.now, log }),
    repostStore,
    eventStore,
    entries,
    // Half the workers' 100 ms poll: at most that much later to learn of a change, for 1 read instead of one per worker.
    changeLog: new SharedChangeLog(entries, 50),
    connections,
    leases,
    watch: leases,
    gateway,
    deliveryGateway,
    workers: { start: (eventId, shard) => starter().start(eventId, shard) },
    adminKey,
    limiter: new RateLimiter(new DynamoRateLimitStore(db, config.tables.limits)),
  };
}

let current: Container | undefined;

/** The container of this Lambda environment (or of the local stage's process). */
export const container = (): Container => (current ??= buildContainer(loadConfig()));

/** For the local stage and tests: forget the container so the next call reads the configuration anew. */
export const resetContainer = (): void => {
  current = undefined;
};
