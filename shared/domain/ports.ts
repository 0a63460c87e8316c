// The domain's ports: what the live service needs from storage and delivery, free of any AWS type.
import type { Entry, Role, ServerFrame } from './protocol';

export interface EventRecord {
  eventId: string;
  title: string;
  startsAt?: string;
  createdAt: string;
  /** The highest seq handed out; 0 before the first publish. */
  lastSeq: number;
  /** Open viewer connections, kept by the connection store. */
  viewers: number;
  tokenHash: string;
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
}

export interface EntryStore {
  get(eventId: string, seq: number): Promise<Entry | undefined>;
  getRequest(eventId: string, clientId: string): Promise<RequestRecord | undefined>;
  /** Atomically: the event's lastSeq moves from `expectedLastSeq` to entry.seq, the entry and the request are stored. */
  commitPublish(eventId: string, expectedLastSeq: number, entry: Entry, request: RequestRecord): Promise<CommitResult>;
  /** Atomically: the entry moves from `expectedRev` to entry.rev, and the request is stored. */
  commitChange(eventId: string, expectedRev: number, entry: Entry, request: RequestRecord): Promise<CommitResult>;
  /** Entries with seq > after in seq order, at most `limit`, read consistently. */
  list(eventId: string, after: number, limit: number): Promise<Entry[]>;
}

export interface ConnectionRecord {
  eventId: string;
  connectionId: string;
  role: Role;
}

export interface ConnectionStore {
  /** Stores the row and counts the viewer; false when the event does not exist. */
  add(connection: ConnectionRecord & { connectedAt: string }): Promise<boolean>;
  /** Removes the row and uncounts the viewer; false when the row was already gone. */
  remove(connection: ConnectionRecord): Promise<boolean>;
  /** The rows of one shard of an event, a page at a time. */
  listShard(eventId: string, shard: number): AsyncIterable<ConnectionRecord[]>;
}

export type PostResult = 'ok' | 'gone';

/** Delivery to one connection (API Gateway's management API, or any transport). */
export interface ConnectionGateway {
  post(connectionId: string, payload: Uint8Array): Promise<PostResult>;
}

export interface BroadcastReport {
  connections: number;
  posts: number;
  gone: number;
  failed: number;
}

/** Delivers frames to every connection of an event, in order per connection. */
export interface Broadcaster {
  broadcast(eventId: string, frames: readonly ServerFrame[]): Promise<BroadcastReport>;
}

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export type Clock = () => Date;
