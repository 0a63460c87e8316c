// Everything a handler needs, built once per container on first use (never at import time).
import { createDynamoClient, createManagementClient, createSecretsClient } from '../../shared/adapters/aws-clients';
import { type AdminKeySource, secretAdminKey, staticAdminKey } from '../../shared/adapters/admin-key';
import { DynamoConnectionStore } from '../../shared/adapters/dynamo-connection-store';
import { DynamoEntryStore } from '../../shared/adapters/dynamo-entry-store';
import { DynamoEventStore } from '../../shared/adapters/dynamo-event-store';
import { ManagementApiGateway } from '../../shared/adapters/management-gateway';
import { type Config, loadConfig } from '../../shared/config';
import { EventService } from '../../shared/domain/event-service';
import { DirectFanout } from '../../shared/domain/fanout';
import { LiveService } from '../../shared/domain/live-service';
import type { ConnectionGateway, ConnectionStore, Logger } from '../../shared/domain/ports';
import { createLogger } from '../../shared/logger';

export interface Container {
  config: Config;
  log: Logger;
  events: EventService;
  live: LiveService;
  connections: ConnectionStore;
  gateway: ConnectionGateway;
  adminKey: AdminKeySource;
}

export function buildContainer(config: Config): Container {
  const log = createLogger(config.logLevel);
  const clock = () => new Date();
  const db = createDynamoClient(config);
  const eventStore = new DynamoEventStore(db, config.tables.events);
  const entries = new DynamoEntryStore(db, config.tables);
  const connections = new DynamoConnectionStore(db, config.tables, clock);
  // Built lazily too: the HTTP functions have no management endpoint and never post.
  let gateway: ConnectionGateway | undefined;
  const lazyGateway: ConnectionGateway = {
    post: (id, payload) => (gateway ??= new ManagementApiGateway(createManagementClient(config))).post(id, payload),
  };
  const broadcaster = new DirectFanout({ connections, gateway: lazyGateway, log, concurrency: config.fanoutConcurrency });
  const adminKey = config.adminKey
    ? staticAdminKey(config.adminKey)
    : config.adminKeySecretArn
      ? secretAdminKey(createSecretsClient(config), config.adminKeySecretArn)
      : { get: () => Promise.reject(new Error('no admin key configured')) };
  return {
    config,
    log,
    events: new EventService({ events: eventStore, entries, clock }),
    live: new LiveService({ events: eventStore, entries, gateway: lazyGateway, broadcaster, clock, log }),
    connections,
    gateway: lazyGateway,
    adminKey,
  };
}

let current: Container | undefined;

/** The container of this Lambda environment (or of the local stage's process). */
export const container = (): Container => (current ??= buildContainer(loadConfig()));

/** For the local stage and tests: forget the container so the next call reads the configuration anew. */
export const resetContainer = (): void => {
  current = undefined;
};
