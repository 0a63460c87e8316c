// The domain's ports: what the live service needs from storage and delivery, free of any AWS type.
import type { Entry, LiveFrame, Role } from './protocol';
import type { PresignedUpload } from './images';
import type { PresenceChange } from './viewer-count';
import type { DetectorState, RepostSecond, Spike } from './reposts/spike-detector';

export interface EventRecord {
  eventId: string;
  title: string;
  startsAt?: string;
  createdAt: string;
  /** The highest seq handed out; 0 before the first publish. */
  lastSeq: number;
  /** The highest change number (publish, edit, delete, pin) in the event's change log; 0 at first. */
  lastChange: number;
  tokenHash: string;
  /**
   * How many times the operator token was replaced: 0 (or absent, on events made before rotation
   * existed) until the first rotation. A reporter connection carries the generation it was admitted
   * with; writes are conditioned on it, so a replaced token stops writing at once.
   */
  tokenGen?: number;
}

export type WriteAction = 'publish' | 'edit' | 'delete' | 'pin';

/** What a reporter request did, kept forever under its clientId so a retry gets the first answer. */
export interface RequestRecord {
  clientId: string;
  action: WriteAction;
  seq: number;
  rev: number;
}

export type CommitResult =
  | { ok: true }
  /** Someone else wrote first (seq taken or rev moved on): read again and retry. */
  | { ok: false; reason: 'stale' }
  /** The clientId was used before: here is what it did. */
  | { ok: false; reason: 'duplicate'; previous: RequestRecord };

export interface EventStore {
  create(event: EventRecord): Promise<void>;
  get(eventId: string): Promise<EventRecord | undefined>;
  /**
   * Replaces the event's operator token hash and moves its `tokenGen` on; returns the new
   * generation, or undefined when there is no such event.
   */
  rotateToken(eventId: string, tokenHash: string): Promise<number | undefined>;
  /**
   * Events newest first (by createdAt, then eventId), starting after `after` (a position a previous
   * page returned): up to `limit`, fewer only at the end of the list.
   */
  listNewest(after: EventPosition | undefined, limit: number): Promise<ListedEvent[]>;
}

/** Where an event stands in the newest-first list: what a cursor carries. */
export interface EventPosition {
  createdAt: string;
  eventId: string;
}

/** An event as the organiser's list shows it (no token hash). */
export interface ListedEvent extends EventPosition {
  title: string;
  startsAt?: string;
  lastSeq: number;
}

/** One line of an event's change log: the entry's whole state right after change `changeNo`. */
export interface Change {
  changeNo: number;
  entry: Entry;
}

/** A line of the change log that carries an event-wide frame (stats, spike) instead of an entry. */
export interface FrameChange {
  changeNo: number;
  frame: LiveFrame;
}

export type LogLine = Change | FrameChange;

export type AppendResult =
  | { appended: true; changeNo: number }
  | { appended: false; reason: 'throttled'; retryInMs: number }
  | { appended: false; reason: 'stale' };

/**
 * The event's change log as its readers see it: the delivery workers, a reconnecting client's sync,
 * the timeline's corrections. Written by EntryStore's commits (and its appendFrame), read here.
 */
export interface ChangeLog {
  /**
   * The change log after `changeNo`, in order: up to `limit` lines, fewer only at the end of the log
   * (the adapter reads on past DynamoDB's 1 MB pages). Callers still learn where the log ends from
   * the event's lastChange (or an empty answer), never from a short one. A store reads consistently
   * every time; a shared reader (delivery/shared-change-log.ts) may answer without `fresh` with a
   * read another caller got a moment ago — `fresh` asks the store now, for checks whose "nothing
   * new" is acted on.
   */
  changesAfter(eventId: string, changeNo: number, limit: number, options?: { fresh?: boolean }): Promise<LogLine[]>;
}

export interface EntryStore {
  get(eventId: string, seq: number): Promise<Entry | undefined>;
  getRequest(eventId: string, clientId: string): Promise<RequestRecord | undefined>;
  /**
   * Atomically: the event's lastSeq moves from `expected.lastSeq` to entry.seq and its lastChange
   * from `expected.lastChange` by one; the entry, its change and the request are stored. With
   * `expected.tokenGen`, only while the event's token generation is still that one ('stale' if not).
   */
  commitPublish(
    eventId: string,
    expected: { lastSeq: number; lastChange: number; tokenGen?: number },
    entry: Entry,
    request: RequestRecord,
  ): Promise<CommitResult>;
  /** Atomically: the entry moves from `expected.rev` to entry.rev, the event's lastChange by one; the change and the request are stored (with `expected.tokenGen`: as for commitPublish). */
  commitChange(
    eventId: string,
    expected: { lastChange: number; rev: number; tokenGen?: number },
    entry: Entry,
    request: RequestRecord,
  ): Promise<CommitResult>;
  /**
   * Entries with seq > after in seq order, read consistently: up to `limit` of them, fewer only at
   * the end of the timeline (an adapter reads on past its storage's page limits, e.g. DynamoDB's
   * 1 MB). Callers still learn where the timeline ends from the event's lastSeq, never from a
   * short answer.
   */
  list(eventId: string, after: number, limit: number): Promise<Entry[]>;
  /**
   * The newest entries that are not deleted, newest first (seq descending), read consistently: up
   * to `limit`, fewer only when the event has no more (the adapter reads on past 1 MB pages and
   * past deleted entries). For the feeds and the crawler's snapshot.
   */
  newestShown(eventId: string, limit: number): Promise<Entry[]>;
  /**
   * Appends an event-wide frame to the change log (the next change number, in one transaction with
   * the event's counter), built from the event as it stands. `minIntervalMs`: refuse ('throttled')
   * when the last frame appended with an interval is younger than that. 'stale': another change
   * got in between; try again.
   */
  appendFrame(
    eventId: string,
    build: (event: EventRecord) => LiveFrame,
    options?: { minIntervalMs?: number; now?: number },
  ): Promise<AppendResult>;
  /** The current state of each of `seqs`, read consistently; a seq with no entry is absent from the map. */
  getMany(eventId: string, seqs: readonly number[]): Promise<Map<number, Entry>>;
  /**
   * The organiser's redaction, atomically: the entry moves from `expected.rev` to entry.rev, the
   * event's lastChange by one, and the change is logged (a `redact` line, delivered like a delete).
   * No request record: a repeated redaction is recognised by the entry's own state.
   */
  commitRedaction(
    eventId: string,
    expected: { lastChange: number; rev: number },
    entry: Entry,
  ): Promise<RedactionResult>;
  /**
   * Blanks entry `seq`'s text on every line of the change log and marks those lines `redacted`
   * (the lines stay: the log must remain gapless). Lines already scrubbed are left alone; returns
   * how many lines it changed.
   */
  scrubRevisions(eventId: string, seq: number): Promise<number>;
}

/** A redaction commits, or someone else changed the event or the entry first ('stale': read again and retry). */
export type RedactionResult = { ok: true } | { ok: false; reason: 'stale' };

/**
 * The viewer count, counted from the Connections stream into counters no publish touches (one per
 * connection partition), each with its watermark: see viewer-count.ts.
 */
export interface ViewerCounts {
  /** Counts the changes not yet counted (a retried or split batch counts nothing twice); returns how many records were new. */
  apply(eventId: string, changes: readonly PresenceChange[]): Promise<number>;
  /** The event's open viewer connections as counted so far (never negative). */
  count(eventId: string): Promise<number>;
}

export interface ConnectionRecord {
  eventId: string;
  connectionId: string;
  role: Role;
  /** The event's lastChange when the connection was accepted: it is owed every change after it. */
  fromChange?: number;
  /** When `$connect` wrote the row (ISO-8601). */
  connectedAt?: string;
}

export interface ConnectionStore {
  /** Stores the row (the caller has read the event: it exists). The viewer count follows from the table's stream. */
  add(connection: ConnectionRecord & { connectedAt: string; fromChange: number }): Promise<boolean>;
  /** Removes the row; false when it was already gone. The viewer count follows from the table's stream. */
  remove(connection: ConnectionRecord): Promise<boolean>;
  /** Every row of one shard of an event, a page at a time (a page may hold any number of rows). */
  listShard(eventId: string, shard: number): AsyncIterable<ConnectionRecord[]>;
}

/** `throttled`: the account's request budget is spent (429); the post was not delivered, try later. */
export type PostResult = 'ok' | 'gone' | 'throttled';

/** Delivery to one connection (API Gateway's management API, or any transport). */
export interface ConnectionGateway {
  post(connectionId: string, payload: Uint8Array): Promise<PostResult>;
}

/**
 * Ends a connection from the server's side (API Gateway's `DELETE @connections/{id}`); `$disconnect`
 * follows as for any close. 'gone': it had already ended. Apart from ConnectionGateway because the
 * fan-out's poster never closes anyone.
 */
export interface ConnectionCloser {
  close(connectionId: string): Promise<'closed' | 'gone'>;
}

/** Where a delivery worker keeps its lease and, between workers, how far its shard was delivered. */
export interface LeaseStore {
  /** Takes the (event, shard) lease if no live one exists; returns the cursor the last holder left (undefined: none). */
  acquire(
    eventId: string,
    shard: number,
    owner: string,
    ttlMs: number,
  ): Promise<{ cursor: number | undefined } | undefined>;
  /** Extends a held lease; false when it was lost (expired and taken by another worker). */
  renew(eventId: string, shard: number, owner: string, ttlMs: number): Promise<boolean>;
  /** Lets go, recording that every connection of the shard has been sent every change up to `cursor`. */
  release(eventId: string, shard: number, owner: string, cursor: number): Promise<void>;
  /** Which of the shards have a live lease now. */
  held(eventId: string, shards: readonly number[]): Promise<Set<number>>;
}

/** One connection shard's delivery, as the watchdog sees it. */
export interface ShardState {
  shard: number;
  /** The change every connection of the shard had been sent when the last worker let go (0: no worker yet). */
  cursor: number;
  /** A worker holds a live lease on it now. */
  held: boolean;
}

/**
 * What the delivery watchdog reads and keeps: a list of live events (marked by the wake-up, so that
 * finding them needs no Scan) and each shard's cursor and lease.
 */
export interface DeliveryWatch {
  /** Puts events on the watch list, marked at `at` (epoch ms). */
  watch(eventIds: readonly string[], at: number): Promise<void>;
  /** Every watched event, with when it was last marked. */
  watched(): Promise<Map<string, number>>;
  /** Takes an event off the list, unless it was marked again since `at`. */
  unwatch(eventId: string, at: number): Promise<void>;
  shardStates(eventId: string, shards: readonly number[]): Promise<ShardState[]>;
}

/** A delivery worker's entry in the account's @connections budget ledger. */
export interface BudgetRegistration {
  /** `<eventId>#<shard>`: one worker per shard holds it (the lease). */
  key: string;
  /** The worker that wrote it (a successor's registration is not taken out by its predecessor). */
  owner: string;
  /** The shard's connection rows when it was written. */
  rows: number;
  /** When it was written (epoch ms): an old one is a dead worker's. */
  beatAt: number;
  /** When this worker first registered (epoch ms): a young one is a newcomer the others may not have seen. */
  since: number;
}

/** The budget ledger shared by every delivery worker of the account (shared/domain/delivery/budget-ledger.ts). */
export interface BudgetLedgerStore {
  /** Writes (or refreshes) a registration; the store may drop it after `expiresAt` (epoch ms). */
  register(registration: BudgetRegistration, expiresAt: number): Promise<void>;
  /** Every registration in the account, expired or not (the domain judges their age). */
  registrations(): Promise<BudgetRegistration[]>;
  /** Takes a registration out, if `owner` still holds it. */
  deregister(key: string, owner: string): Promise<void>;
}

/** Starts a delivery worker for one shard of an event (an async Lambda invocation, or in-process). */
export interface WorkerStarter {
  start(eventId: string, shard: number): Promise<void>;
}

/** Counters for rate limits, shared by every container (one atomic add per use). */
export interface RateLimitStore {
  /**
   * Adds `by` (default 1) to the counter `key` (one per window) and returns the count, this use included.
   * The counter may be removed after `expiresAtMs`.
   */
  hit(key: string, expiresAtMs: number, by?: number): Promise<number>;
}

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

/** The one clock of the domain: epoch milliseconds (`Date.now` deployed; a fake in tests). */
export type Clock = () => number;

/** One viewer's repost of one entry, as stored (at: epoch ms when the server took it). */
export interface Repost {
  eventId: string;
  seq: number;
  connectionId: string;
  at: number;
  /**
   * Who it counts as (reposts/sources.ts voterOf): a signed viewer id, else the address; a repost
   * counts once per voter and seq. Default: the connection (rows written before viewer ids).
   */
  voter?: string;
  /** A fingerprint of the network it came from, for the spike rule's distinct sources. Default: its voter's own. */
  source?: string;
}

/**
 * A stored repost as its table's stream hands it over: `sequence` is the stream record's sequence
 * number, increasing for the records of one partition (`eventId#shard`) in the order they were written.
 */
export interface StreamedRepost extends Repost {
  sequence: string;
}

/** The repost series as `GET /reposts` reads it: kept in buckets by the tally, so an hour at 60 s is 60 items. */
export interface RepostSeries {
  /** Reposts per bucket of `bucketSeconds` (1, 10 or 60), oldest first (empty buckets left out), and the total. */
  series(eventId: string, bucketSeconds: number): Promise<{ buckets: { t: number; count: number }[]; total: number }>;
}

/** Reposts and their exact counts. */
export interface RepostStore {
  /** Stores the repost unless this connection already reposted this seq: 'duplicate' then, and nothing changes. */
  add(repost: Repost): Promise<'counted' | 'duplicate'>;
  /**
   * Adds stored reposts to the event's counters (per seq, and per second and seq), each exactly
   * once however often it is handed in again (a stream batch retried, whole or split). Each
   * partition's reposts must come in stream order. Returns how many were new.
   */
  tally(eventId: string, reposts: readonly StreamedRepost[]): Promise<number>;
  /** Exact totals per seq, for seqs from..to (seqs nobody reposted are absent). */
  totals(eventId: string, fromSeq: number, toSeq: number): Promise<Map<number, number>>;
  /** Reposts per second and seq, oldest first, for seconds after `afterMs` (epoch ms). */
  seconds(eventId: string, afterMs?: number): Promise<RepostSecond[]>;
  /** The spike detector's saved state and its version (0 before the first save). */
  detector(eventId: string): Promise<{ state: DetectorState; version: number }>;
  /**
   * Saves the detector's state and the spikes it started or ended, if the state is still at
   * `version` (false when another tally got there first: its result stands).
   */
  saveDetector(eventId: string, version: number, state: DetectorState, spikes: readonly Spike[]): Promise<boolean>;
  /** Every spike recorded for the event, oldest first. */
  spikes(eventId: string): Promise<Spike[]>;
  /** Marks the event as having a spike open, for the sweep that ends spikes after their wave. */
  watchOpenSpike(eventId: string): Promise<void>;
  /** The sweep found no spike open any more. */
  unwatchOpenSpike(eventId: string): Promise<void>;
  /** Events marked by `watchOpenSpike` and not yet unwatched. */
  eventsWithOpenSpikes(): Promise<string[]>;
}

/** Where photos are stored (S3): the presigned upload a reporter's phone sends the bytes with. */
export interface ImageStorage {
  /**
   * A presigned POST to `key` that storage itself holds to: exactly this content type, at most
   * `maxBytes`, within `expiresSeconds`.
   */
  presignUpload(key: string, contentType: string, maxBytes: number, expiresSeconds: number): Promise<PresignedUpload>;
  /** The public address `key` is served at once published. */
  publicUrl(key: string): Promise<string>;
  /**
   * The first `bytes` of the object at `key` (a ranged read: a header is enough to know a photo's
   * size), its stored content type and whole size; undefined when no object is there.
   */
  readHead(key: string, bytes: number): Promise<StoredHead | undefined>;
  /** Copies `from` to `to` in the same bucket, stored as `contentType` and cacheable for ever (image keys are never reused). */
  copy(from: string, to: string, contentType: string): Promise<void>;
}

export interface StoredHead {
  contentType: string | undefined;
  /** The object's size in bytes. */
  size: number;
  head: Uint8Array;
}
