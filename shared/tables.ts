// Table definitions: the one source of key names for the CDK stack, the adapters and the local stage.

export type KeyType = 'S' | 'N';

export interface KeyDef {
  readonly name: string;
  readonly type: KeyType;
}

export interface TableDef {
  /** Construct id in the CDK stack and suffix of the local table name. */
  readonly id: string;
  /** Environment variable through which the functions learn the table's physical name. */
  readonly envVar: string;
  readonly partitionKey: KeyDef;
  readonly sortKey?: KeyDef;
  readonly timeToLiveAttribute?: string;
  /** A DynamoDB stream of the items' new images (new and old ones, or only their keys), for the triggers that consume it. */
  readonly stream?: 'NEW_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY';
  /** Long-lived data: retained when the stack goes, point-in-time recovery on. */
  readonly durable: boolean;
  /** Global secondary indexes (on-demand, as the table). */
  readonly indexes?: readonly IndexDef[];
}

export interface IndexDef {
  readonly name: string;
  readonly partitionKey: KeyDef;
  readonly sortKey?: KeyDef;
  /** The base table's attributes copied into the index besides the keys (never one a hot write path changes: see eventsTable). */
  readonly nonKeyAttributes: readonly string[];
}

/**
 * The organiser's list of events, newest first: every event item carries `listed` = LISTED_EVENTS,
 * so the index is one partition sorted by `createdAt`. One partition is enough because events are
 * created rarely (POST /events is throttled to 10/s; a GSI partition takes 1,000 writes/s) and read
 * only by the organiser. Only the keys and the title (never changed) are projected: a publish
 * updates the event item's lastSeq and lastChange hundreds of times a second, and an update to an
 * attribute the index does not hold writes nothing to it — projecting lastSeq would put every
 * publish of every event on this one partition. The list reads lastSeq from the table instead.
 */
export const EVENTS_BY_CREATED = {
  name: 'byCreated',
  partitionKey: { name: 'listed', type: 'S' },
  sortKey: { name: 'createdAt', type: 'S' },
  nonKeyAttributes: ['title'],
} as const satisfies IndexDef;

/** The one value of `listed` (an attribute, not a constant in the key schema, so the index can be split later by writing another). */
export const LISTED_EVENTS = 'events';

/** One item per event: title, the last seq handed out, the operator token's hash. (The viewer count is in RepostCounts: connects never write here.) */
export const eventsTable = {
  id: 'Events',
  envVar: 'LIVECAST_TABLE_EVENTS',
  partitionKey: { name: 'eventId', type: 'S' },
  durable: true,
  indexes: [EVENTS_BY_CREATED],
} as const satisfies TableDef;

/** One item per entry (its current state), keyed by the gapless per-event seq so the timeline is a single Query. */
export const entriesTable = {
  id: 'Entries',
  envVar: 'LIVECAST_TABLE_ENTRIES',
  partitionKey: { name: 'eventId', type: 'S' },
  sortKey: { name: 'seq', type: 'N' },
  durable: true,
} as const satisfies TableDef;

/**
 * The event's change log: one item per publish, edit, delete or pin, numbered 1, 2, 3… per event
 * (`changeNo`) in the same transaction as the change, holding the entry's state after it. Delivery
 * reads "what changed after N" from here (every revision, in order); its stream wakes delivery up;
 * the replay's export reads every revision from here.
 */
export const changesTable = {
  id: 'Changes',
  envVar: 'LIVECAST_TABLE_CHANGES',
  partitionKey: { name: 'eventId', type: 'S' },
  sortKey: { name: 'changeNo', type: 'N' },
  stream: 'NEW_IMAGE',
  durable: true,
} as const satisfies TableDef;

/**
 * One item per reporter request (publish, edit, delete, pin), keyed by its clientId: written in the
 * same transaction as the change, so a retry finds the first outcome forever.
 */
export const requestsTable = {
  id: 'Requests',
  envVar: 'LIVECAST_TABLE_REQUESTS',
  partitionKey: { name: 'eventId', type: 'S' },
  sortKey: { name: 'clientId', type: 'S' },
  durable: true,
} as const satisfies TableDef;

/**
 * One item per open WebSocket connection. The partition key spreads an event's connections over
 * CONNECTION_SHARDS partitions (`<eventId>#<shard>`), so fan-out reads them with parallel Queries
 * and no partition holds a whole audience.
 */
export const connectionsTable = {
  id: 'Connections',
  envVar: 'LIVECAST_TABLE_CONNECTIONS',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'connectionId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  /**
   * Connects and disconnects (TTL's removals too): the viewer count. Both images, because the count
   * needs the row's role on an INSERT (new image) and on a REMOVE (old image): reporters do not count.
   */
  stream: 'NEW_AND_OLD_IMAGES',
  durable: false,
} as const satisfies TableDef;

/**
 * Delivery's coordination: one item per (event, connection shard) — `<eventId>#<shard>` — holding the
 * lease of the worker that delivers to that shard and the change number every connection of the
 * shard had been sent when the last worker let go.
 */
export const deliveryTable = {
  id: 'Delivery',
  envVar: 'LIVECAST_TABLE_DELIVERY',
  partitionKey: { name: 'pk', type: 'S' },
  durable: false,
} as const satisfies TableDef;

/**
 * One item per (voter, seq) repost — a voter is a signed viewer id, or the address of a client
 * without one: the conditional put that makes a repost count once per viewer. Spread over
 * CONNECTION_SHARDS partitions (`<eventId>#<shard>`, the voter's shard) so a storm of 10,000
 * reposts of one entry never meets one partition's 1,000 writes/s. Its stream feeds the tally.
 * Rows expire 30 days after the repost (`expiresAt`); the counts in RepostCounts stay.
 */
export const repostsTable = {
  id: 'Reposts',
  envVar: 'LIVECAST_TABLE_REPOSTS',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  stream: 'NEW_IMAGE',
  durable: true,
} as const satisfies TableDef;

/**
 * The tally's exact counters, one partition per event, written a batch at a time (never one write
 * per repost): `seq#<seq>` total per entry, `sec#<second>#<seq>` per second and entry (the series
 * spikes are found in), `wm#<eventId>#<shard>` (the stream sequence number of the last repost of
 * that partition counted: what makes a retried batch count nothing twice), `detector` (the spike
 * detector's state), `spike#<startedAt>` (each spike); and the viewer count, off the event item:
 * `viewers#<eventId>#<shard>`, per connection partition a count `n` and the watermark `mark` of the
 * last Connections stream record it holds (shared/adapters/dynamo-viewer-counts.ts).
 */
export const repostCountsTable = {
  id: 'RepostCounts',
  envVar: 'LIVECAST_TABLE_REPOST_COUNTS',
  partitionKey: { name: 'eventId', type: 'S' },
  sortKey: { name: 'k', type: 'S' },
  durable: true,
} as const satisfies TableDef;

/**
 * Rate limits: one counter item per (who, what, window) — `<key>#<window start>` — counted with an
 * atomic ADD and removed by TTL after its window. Nothing here outlives a few minutes.
 */
export const limitsTable = {
  id: 'Limits',
  envVar: 'LIVECAST_TABLE_LIMITS',
  partitionKey: { name: 'pk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  durable: false,
} as const satisfies TableDef;

/**
 * The account's @connections budget ledger: one item per running delivery worker, `sk` =
 * `<eventId>#<shard>`, holding the shard's connection rows and the worker's heartbeat, spread over
 * BUDGET_LEDGER_PARTITIONS partitions (`pk` = `ledger#<n>`) that every worker reads each refresh.
 * Not per event: the budget is the account's. TTL only tidies up; readers judge age by `beatAt`.
 */
export const budgetTable = {
  id: 'Budget',
  envVar: 'LIVECAST_TABLE_BUDGET',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  durable: false,
} as const satisfies TableDef;

/**
 * Partitions of the budget ledger. Each refresh reads all of them; four keep one partition's reads
 * and writes far below its 3,000 RCU / 1,000 WCU at 320 workers (20 events): docs/architecture.md.
 */
export const BUDGET_LEDGER_PARTITIONS = 4;

export const tables = [
  eventsTable,
  entriesTable,
  changesTable,
  requestsTable,
  connectionsTable,
  deliveryTable,
  repostsTable,
  repostCountsTable,
  limitsTable,
  budgetTable,
] as const;

/** API Gateway closes a connection after 2 hours; a row outlives it by a margin, then TTL removes it. */
export const CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 15 * 60;
