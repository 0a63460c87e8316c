// The API Gateway management API (@connections): only functions granted `manageConnections` import this.
import { createManagementClient } from '../../shared/adapters/aws-clients';
import { ManagementApiGateway } from '../../shared/adapters/management-gateway';
import { SignedPoster } from '../../shared/adapters/signed-poster';
import type { ConnectionCloser, ConnectionGateway } from '../../shared/domain/ports';
import { traced } from '../../shared/observability/telemetry';
import { part } from './container';

const management = part((c) => traced(createManagementClient(c.config)));

/** Replies to one connection (sync) and closes floods (rate-limit.ts): the SDK client. */
export const connectionsApi: () => ConnectionGateway & ConnectionCloser = part(
  () => new ManagementApiGateway(management()),
);

const signedPoster = part(
  (c) =>
    new SignedPoster({
      endpoint: c.config.connectionsEndpoint ?? '',
      region: c.config.region,
      credentials: () => management().config.credentials(),
      maxSockets: c.config.workerInFlight * 2,
    }),
);

/** The fan-out's hot path: the lean signed poster unless configured otherwise. */
export const deliveryGateway = part((c): ConnectionGateway =>
  c.config.postTransport === 'sdk'
    ? { post: (id, payload) => connectionsApi().post(id, payload) }
    : { post: (id, payload) => signedPoster().post(id, payload) },
);
