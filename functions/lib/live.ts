// The reporter's and the viewers' live operations (publish, edit, delete, pin, sync): a sync posts
// to its connection, so this part brings the management API with it.
import type { ConnectionGateway } from '../../shared/domain/ports';
import { LiveService, type LiveServiceDeps } from '../../shared/domain/live-service';
import { connectionsApi } from './connections-api';
import { type Container, part } from './container';

// The client is made at the first post, not with the service: a publish never posts (its ack is the route response).
const gateway: ConnectionGateway = { post: (id, payload) => connectionsApi().post(id, payload) };

export const liveDeps = (c: Container): LiveServiceDeps => ({
  events: c.eventStore,
  entries: c.entries,
  changes: c.changeStore,
  reposts: c.repostStore,
  gateway,
  clock: Date.now,
  log: c.log,
});

export const live = part((c) => new LiveService(liveDeps(c)));
