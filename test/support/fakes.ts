// In-memory fakes of the domain's ports, with the same atomicity the DynamoDB adapters give.
import type {
  AppendResult,
  BudgetLedgerStore,
  BudgetRegistration,
  Change,
  CommitResult,
  ConnectionCloser,
  ConnectionGateway,
  ConnectionRecord,
  ConnectionStore,
  EntryStore,
  EventPosition,
  EventRecord,
  EventStore,
  FrameChange,
  LeaseStore,
  ListedEvent,
  LogLine,
  Logger,
  PostResult,
  RequestRecord,
  ViewerCounts,
} from '../../shared/domain/ports';
import { counterSteps, type PresenceChange, shownViewers } from '../../shared/domain/viewer-count';
import type { Entry, LiveFrame, ServerFrame } from '../../shared/domain/protocol';
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
  async rotateToken(eventId: string, tokenHash: string) {
    await tick();
    const e = this.items.get(eventId);
    if (!e) return undefined;
    e.tokenHash = tokenHash;
    e.tokenGen = (e.tokenGen ?? 0) + 1;
    return e.tokenGen;
  }
  async listNewest(after: EventPosition | undefined, limit: number): Promise<ListedEvent[]> {
    await tick();
    const key = (e: EventPosition) => `${e.createdAt}\u0000${e.eventId}`;
    return [...this.items.values()]
      .sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0))
      .filter((e) => !after || key(e) < key(after))
      .slice(0, limit)
      .map(({ eventId, title, createdAt, startsAt, lastSeq }) => ({
        eventId,
        title,
        createdAt,
        ...(startsAt ? { startsAt } : {}),
        lastSeq,
      }));
  }
}

/** The token-generation condition the DynamoDB adapter puts on a write (none when not given). */
const tokenStale = (event: EventRecord, tokenGen: number | undefined) =>
  tokenGen !== undefined && (event.tokenGen ?? 0) !== tokenGen;

export class FakeEntries implements EntryStore {
  readonly entries = new Map<string, Entry>();
  readonly requests = new Map<string, RequestRecord>();
  readonly changes = new Map<string, Change[]>();
  /**
   * The most a read (changesAfter, list) returns, whatever its `limit`: set it to imitate a store
   * whose page ran out of room (DynamoDB's 1 MB) and answers short with more to come, so tests can
   * prove a caller reads on to the end instead of trusting one short answer.
   */
  maxPerRead = Infinity;
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
  async commitPublish(
    eventId: string,
    expected: { lastSeq: number; lastChange: number; tokenGen?: number },
    entry: Entry,
    request: RequestRecord,
  ): Promise<CommitResult> {
    await tick();
    const dup = this.requests.get(`${eventId}/${request.clientId}`);
    if (dup) return { ok: false, reason: 'duplicate', previous: { ...dup } };
    const event = this.events.items.get(eventId);
    if (
      !event ||
      event.lastSeq !== expected.lastSeq ||
      event.lastChange !== expected.lastChange ||
      tokenStale(event, expected.tokenGen)
    ) {
      return { ok: false, reason: 'stale' };
    }
    event.lastSeq = entry.seq;
    this.entries.set(`${eventId}/${entry.seq}`, { ...entry });
    this.log(event, entry);
    this.requests.set(`${eventId}/${request.clientId}`, { ...request });
    return { ok: true };
  }
  async commitChange(
    eventId: string,
    expected: { lastChange: number; rev: number; tokenGen?: number },
    entry: Entry,
    request: RequestRecord,
  ): Promise<CommitResult> {
    await tick();
    const dup = this.requests.get(`${eventId}/${request.clientId}`);
    if (dup) return { ok: false, reason: 'duplicate', previous: { ...dup } };
    const event = this.events.items.get(eventId);
    const current = this.entries.get(`${eventId}/${entry.seq}`);
    if (
      !event ||
      event.lastChange !== expected.lastChange ||
      !current ||
      current.rev !== expected.rev ||
      tokenStale(event, expected.tokenGen)
    ) {
      return { ok: false, reason: 'stale' };
    }
    this.entries.set(`${eventId}/${entry.seq}`, { ...entry, reposts: current.reposts });
    this.log(event, entry);
    this.requests.set(`${eventId}/${request.clientId}`, { ...request });
    return { ok: true };
  }
  private log(event: EventRecord, entry: Entry) {
    event.lastChange++;
    const list = this.changes.get(event.eventId) ?? [];
    list.push({ changeNo: event.lastChange, entry: { ...entry } });
    this.changes.set(event.eventId, list);
  }
  async changesAfter(eventId: string, changeNo: number, limit: number): Promise<LogLine[]> {
    await tick();
    const lines: LogLine[] = [...(this.changes.get(eventId) ?? []), ...(this.frameLines.get(eventId) ?? [])];
    return lines
      .filter((c) => c.changeNo > changeNo)
      .sort((a, b) => a.changeNo - b.changeNo)
      .slice(0, Math.min(limit, this.maxPerRead));
  }
  /** Stats and spike lines of the change log. */
  readonly frameLines = new Map<string, FrameChange[]>();
  private framedAt = new Map<string, number>();
  async appendFrame(
    eventId: string,
    build: (event: EventRecord) => LiveFrame,
    options: { minIntervalMs?: number; now?: number } = {},
  ): Promise<AppendResult> {
    await tick();
    const event = this.events.items.get(eventId);
    if (!event) throw new Error(`event ${eventId} does not exist`);
    const now = options.now ?? Date.now();
    if (options.minIntervalMs !== undefined) {
      const last = this.framedAt.get(eventId) ?? 0;
      if (now - last < options.minIntervalMs)
        return { appended: false, reason: 'throttled', retryInMs: last + options.minIntervalMs - now };
      this.framedAt.set(eventId, now);
    }
    event.lastChange++;
    const list = this.frameLines.get(eventId) ?? [];
    list.push({ changeNo: event.lastChange, frame: build({ ...event }) });
    this.frameLines.set(eventId, list);
    return { appended: true, changeNo: event.lastChange };
  }
  async list(eventId: string, after: number, limit: number) {
    return [...this.entries.entries()]
      .filter(([k, e]) => k.startsWith(`${eventId}/`) && e.seq > after)
      .map(([, e]) => ({ ...e }))
      .sort((a, b) => a.seq - b.seq)
      .slice(0, Math.min(limit, this.maxPerRead));
  }
  async newestShown(eventId: string, limit: number) {
    await tick();
    return [...this.entries.entries()]
      .filter(([k, e]) => k.startsWith(`${eventId}/`) && !e.deleted)
      .map(([, e]) => ({ ...e }))
      .sort((a, b) => b.seq - a.seq)
      .slice(0, limit);
  }
  /** How many times getMany was asked (a test can check a page costs one read, not one per line). */
  getManyCalls = 0;
  async getMany(eventId: string, seqs: readonly number[]) {
    await tick();
    this.getManyCalls++;
    const found = new Map<number, Entry>();
    for (const seq of seqs) {
      const e = this.entries.get(`${eventId}/${seq}`);
      if (e) found.set(seq, { ...e });
    }
    return found;
  }
  async commitRedaction(
    eventId: string,
    expected: { lastChange: number; rev: number },
    entry: Entry,
  ): Promise<{ ok: true } | { ok: false; reason: 'stale' }> {
    await tick();
    const event = this.events.items.get(eventId);
    const current = this.entries.get(`${eventId}/${entry.seq}`);
    if (!event || event.lastChange !== expected.lastChange || !current || current.rev !== expected.rev)
      return { ok: false, reason: 'stale' };
    this.entries.set(`${eventId}/${entry.seq}`, { ...entry, reposts: current.reposts });
    this.log(event, entry);
    return { ok: true };
  }
  async scrubRevisions(eventId: string, seq: number) {
    await tick();
    let changed = 0;
    for (const line of this.changes.get(eventId) ?? []) {
      if (line.entry.seq !== seq || (line.entry.text === '' && line.entry.redacted)) continue;
      line.entry = { ...line.entry, text: '', redacted: true };
      changed++;
    }
    return changed;
  }
}

/**
 * The viewer counters with the DynamoDB adapter's rule: per connection partition a count and a
 * watermark, moved together by one conditional write (`counterSteps`, then "mark below the step's
 * first record"). `failAfter` makes the next apply fail once after that many partitions were
 * written, as a Lambda that dies half-way through a batch would leave them.
 */
export class FakeViewerCounts implements ViewerCounts {
  readonly counters = new Map<string, { n: number; mark: string }>();
  failAfter: number | undefined;
  async apply(eventId: string, changes: readonly PresenceChange[]) {
    let applied = 0;
    let written = 0;
    for (const partition of new Set(changes.map((c) => c.partition))) {
      await tick();
      const counter = this.counters.get(partition);
      const marks = new Map(counter ? [[partition, counter.mark]] : []);
      const [step] = counterSteps(
        changes.filter((c) => c.partition === partition),
        marks,
      );
      if (!step) continue;
      if (this.failAfter !== undefined && written >= this.failAfter) {
        this.failAfter = undefined;
        throw new Error(`ProvisionedThroughputExceededException (${eventId})`);
      }
      this.counters.set(partition, { n: (counter?.n ?? 0) + step.delta, mark: step.last });
      applied += step.records;
      written++;
    }
    return applied;
  }
  async count(eventId: string) {
    let sum = 0;
    for (const [partition, c] of this.counters) if (partition.startsWith(`${eventId}#`)) sum += c.n;
    return shownViewers(sum);
  }
}

export class FakeConnections implements ConnectionStore {
  readonly rows = new Map<string, ConnectionRecord>();
  constructor(
    private readonly shards = 4,
    private readonly pageSize = 3,
  ) {}
  async add(c: ConnectionRecord & { connectedAt: string; fromChange: number }) {
    this.rows.set(c.connectionId, {
      eventId: c.eventId,
      connectionId: c.connectionId,
      role: c.role,
      fromChange: c.fromChange,
      connectedAt: c.connectedAt,
    });
    return true;
  }
  async remove(c: ConnectionRecord) {
    return this.rows.delete(c.connectionId);
  }
  async *listShard(eventId: string, shard: number) {
    const all = [...this.rows.values()].filter(
      (r) => r.eventId === eventId && shardOf(r.connectionId, this.shards) === shard,
    );
    for (let i = 0; i < all.length; i += this.pageSize) {
      await tick();
      yield all.slice(i, i + this.pageSize);
    }
  }
}

/** Records every post by connection; connections can be made gone or failing, posts throttled, and closed. */
export class FakeGateway implements ConnectionGateway, ConnectionCloser {
  readonly received = new Map<string, ServerFrame[]>();
  readonly messages = new Map<string, Uint8Array[]>();
  readonly gone = new Set<string>();
  readonly failing = new Set<string>();
  /** Returns true when this post should be answered 429. */
  throttle: (connectionId: string) => boolean = () => false;
  /** Returns true when this post should fail with a transient error. */
  flaky: (connectionId: string) => boolean = () => false;
  throttled = 0;
  inFlight = 0;
  maxInFlight = 0;

  async post(connectionId: string, payload: Uint8Array): Promise<PostResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await tick();
      if (this.failing.has(connectionId) || this.flaky(connectionId)) throw new Error('socket reset');
      if (this.gone.has(connectionId)) return 'gone';
      if (this.throttle(connectionId)) {
        this.throttled++;
        return 'throttled';
      }
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

  /** Connections closed by the server, in order; a closed connection is gone from then on. */
  readonly closed: string[] = [];

  async close(connectionId: string): Promise<'closed' | 'gone'> {
    await tick();
    if (this.gone.has(connectionId)) return 'gone';
    this.closed.push(connectionId);
    this.gone.add(connectionId);
    return 'closed';
  }
}

export class FakeLeases implements LeaseStore {
  readonly items = new Map<string, { owner?: string; until?: number; cursor?: number }>();
  constructor(private readonly now: () => number = Date.now) {}
  async acquire(eventId: string, shard: number, owner: string, ttlMs: number) {
    const item = this.items.get(`${eventId}#${shard}`) ?? {};
    if (item.owner && item.owner !== owner && (item.until ?? 0) >= this.now()) return undefined;
    this.items.set(`${eventId}#${shard}`, { ...item, owner, until: this.now() + ttlMs });
    return { cursor: item.cursor };
  }
  async renew(eventId: string, shard: number, owner: string, ttlMs: number) {
    const item = this.items.get(`${eventId}#${shard}`);
    if (item?.owner !== owner) return false;
    item.until = this.now() + ttlMs;
    return true;
  }
  async release(eventId: string, shard: number, owner: string, cursor: number) {
    const item = this.items.get(`${eventId}#${shard}`);
    if (item?.owner === owner) this.items.set(`${eventId}#${shard}`, { cursor });
  }
  async held(eventId: string, shards: readonly number[]) {
    return new Set(
      shards.filter((s) => {
        const item = this.items.get(`${eventId}#${s}`);
        return !!item?.owner && (item.until ?? 0) >= this.now();
      }),
    );
  }
}

/** The account's budget ledger in memory; `failing` makes every call throw (a throttled table). */
export class FakeBudgetLedger implements BudgetLedgerStore {
  readonly items = new Map<string, BudgetRegistration>();
  readonly expiresAt = new Map<string, number>();
  failing = false;
  async register(registration: BudgetRegistration, expiresAt: number) {
    if (this.failing) throw new Error('ledger unavailable');
    this.items.set(registration.key, { ...registration });
    this.expiresAt.set(registration.key, expiresAt);
  }
  async registrations() {
    if (this.failing) throw new Error('ledger unavailable');
    return [...this.items.values()];
  }
  async deregister(key: string, owner: string) {
    if (this.failing) throw new Error('ledger unavailable');
    if (this.items.get(key)?.owner === owner) {
      this.items.delete(key);
      this.expiresAt.delete(key);
    }
  }
}

export const silentLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function fixedClock(start = Date.parse('2026-07-01T09:00:00Z')) {
  let t = start;
  return (): number => (t += 1000);
}

export function eventRecord(eventId = 'ev1', overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    eventId,
    title: 'Sweetfish Festival',
    createdAt: '2026-07-01T08:00:00.000Z',
    lastSeq: 0,
    lastChange: 0,
    tokenHash: 'x',
    ...overrides,
  };
}
