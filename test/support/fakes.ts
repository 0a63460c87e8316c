// In-memory fakes of the domain's ports, with the same atomicity the DynamoDB adapters give.
import type {
  BroadcastReport,
  Broadcaster,
  CommitResult,
  ConnectionGateway,
  ConnectionRecord,
  ConnectionStore,
  EntryStore,
  EventRecord,
  EventStore,
  Logger,
  PostResult,
  RequestRecord,
} from '../../shared/domain/ports';
import type { Entry, ServerFrame } from '../../shared/domain/protocol';
import { shardOf } from '../../shared/domain/sharding';

/** Yields to other tasks, so concurrent callers interleave between a read and a write as they would over a network. */
const tick = () => new Promise<void>((r) => setImmediate(r));

export class FakeEvents implements EventStore {
  readonly items = new Map<string, EventRecord>();
  async create(event: EventRecord) {
    if (this.items.has(event.eventId)) throw new Error('exists');
    this.items.set(event.eventId, { ...event });
  }
  async get(eventId: string) {
    await tick();
    const e = this.items.get(eventId);
    return e && { ...e };
  }
}

export class FakeEntries implements EntryStore {
  readonly entries = new Map<string, Entry>();
  readonly requests = new Map<string, RequestRecord>();
  constructor(private readonly events: FakeEvents) {}

  async get(eventId: string, seq: number) {
    await tick();
    const e = this.entries.get(`${eventId}/${seq}`);
    return e && { ...e };
  }
  async getRequest(eventId: string, clientId: string) {
    const r = this.requests.get(`${eventId}/${clientId}`);
    return r && { ...r };
  }
  async commitPublish(eventId: string, expectedLastSeq: number, entry: Entry, request: RequestRecord): Promise<CommitResult> {
    await tick();
    const dup = this.requests.get(`${eventId}/${request.clientId}`);
    if (dup) return { ok: false, reason: 'duplicate', previous: { ...dup } };
    const event = this.events.items.get(eventId);
    if (!event || event.lastSeq !== expectedLastSeq) return { ok: false, reason: 'stale' };
    event.lastSeq = entry.seq;
    this.entries.set(`${eventId}/${entry.seq}`, { ...entry });
    this.requests.set(`${eventId}/${request.clientId}`, { ...request });
    return { ok: true };
  }
  async commitChange(eventId: string, expectedRev: number, entry: Entry, request: RequestRecord): Promise<CommitResult> {
    await tick();
    const dup = this.requests.get(`${eventId}/${request.clientId}`);
    if (dup) return { ok: false, reason: 'duplicate', previous: { ...dup } };
    const current = this.entries.get(`${eventId}/${entry.seq}`);
    if (!current || current.rev !== expectedRev) return { ok: false, reason: 'stale' };
    this.entries.set(`${eventId}/${entry.seq}`, { ...entry, reposts: current.reposts });
    this.requests.set(`${eventId}/${request.clientId}`, { ...request });
    return { ok: true };
  }
  async list(eventId: string, after: number, limit: number) {
    return [...this.entries.entries()]
      .filter(([k, e]) => k.startsWith(`${eventId}/`) && e.seq > after)
      .map(([, e]) => ({ ...e }))
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
  }
}

export class FakeConnections implements ConnectionStore {
  readonly rows = new Map<string, ConnectionRecord>();
  constructor(
    private readonly shards = 4,
    private readonly pageSize = 3,
  ) {}
  async add(c: ConnectionRecord & { connectedAt: string }) {
    this.rows.set(c.connectionId, { eventId: c.eventId, connectionId: c.connectionId, role: c.role });
    return true;
  }
  async remove(c: ConnectionRecord) {
    return this.rows.delete(c.connectionId);
  }
  async *listShard(eventId: string, shard: number) {
    const all = [...this.rows.values()].filter((r) => r.eventId === eventId && shardOf(r.connectionId, this.shards) === shard);
    for (let i = 0; i < all.length; i += this.pageSize) {
      await tick();
      yield all.slice(i, i + this.pageSize);
    }
  }
}

/** Records every post by connection; connections can be made gone or failing. */
export class FakeGateway implements ConnectionGateway {
  readonly received = new Map<string, ServerFrame[]>();
  readonly messages = new Map<string, Uint8Array[]>();
  readonly gone = new Set<string>();
  readonly failing = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;

  async post(connectionId: string, payload: Uint8Array): Promise<PostResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await tick();
      if (this.failing.has(connectionId)) throw new Error('socket reset');
      if (this.gone.has(connectionId)) return 'gone';
      const list = this.messages.get(connectionId) ?? [];
      list.push(payload);
      this.messages.set(connectionId, list);
      const frame = JSON.parse(new TextDecoder().decode(payload)) as ServerFrame;
      const frames = this.received.get(connectionId) ?? [];
      frames.push(...(frame.type === 'batch' ? frame.frames : [frame]));
      this.received.set(connectionId, frames);
      return 'ok';
    } finally {
      this.inFlight--;
    }
  }

  framesOf(connectionId: string): ServerFrame[] {
    return this.received.get(connectionId) ?? [];
  }
}

export class RecordingBroadcaster implements Broadcaster {
  readonly calls: { eventId: string; frames: readonly ServerFrame[] }[] = [];
  async broadcast(eventId: string, frames: readonly ServerFrame[]): Promise<BroadcastReport> {
    this.calls.push({ eventId, frames });
    return { connections: 0, posts: 0, gone: 0, failed: 0 };
  }
}

export const silentLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function fixedClock(start = Date.parse('2026-07-01T09:00:00Z')) {
  let t = start;
  return () => new Date((t += 1000));
}

export function eventRecord(eventId = 'ev1', overrides: Partial<EventRecord> = {}): EventRecord {
  return { eventId, title: 'Sweetfish Festival', createdAt: '2026-07-01T08:00:00.000Z', lastSeq: 0, viewers: 0, tokenHash: 'x', ...overrides };
}
