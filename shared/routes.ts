// The route table: which handler module serves which route, and what it may touch. Read by the CDK
// stack (functions, routes, grants) and by the local stage (which handler to invoke), so the two
// cannot drift apart.
import {
  EVENTS_BY_CREATED,
  budgetTable,
  changesTable,
  connectionsTable,
  deliveryTable,
  entriesTable,
  eventsTable,
  limitsTable,
  repostCountsTable,
  repostsTable,
  requestsTable,
} from './tables';
import {
  type FunctionDef,
  type HttpRouteDef,
  may,
  type Needs,
  type ScheduledDef,
  type StreamTriggerDef,
  type WsRouteDef,
} from './route-defs';

// The shapes live in route-defs.ts; importers of the table get them here too.
export * from './route-defs';

/**
 * Every WebSocket message route counts each frame against its connection's allowance in the Limits
 * table (one UpdateItem: functions/lib/rate-limit.ts) and closes a connection that keeps flooding
 * through the management API (DELETE @connections/{id}).
 */
const limited = [limitsTable, may('UpdateItem')] as const;

/**
 * A reporter's publish: the event's counters read, then one transaction (Update the event, Put the
 * entry, its change-log line and the request record); a request found there is read back. The ack
 * is the route response: no @connections call but the flood's DELETE.
 */
const publisher: Needs = {
  tables: [
    [eventsTable, may('GetItem', 'UpdateItem')],
    [entriesTable, may('PutItem')],
    [changesTable, may('PutItem')],
    [requestsTable, may('GetItem', 'PutItem')],
    limited,
  ],
  manageConnections: ['DELETE'],
  images: ['publishImages'],
};

/** Edit, delete and pin: as publish, but the entry is read and updated in place, never put. */
const changer: Needs = {
  tables: [
    [eventsTable, may('GetItem', 'UpdateItem')],
    [entriesTable, may('GetItem', 'UpdateItem')],
    [changesTable, may('PutItem')],
    [requestsTable, may('GetItem', 'PutItem')],
    limited,
  ],
  manageConnections: ['DELETE'],
};

/** The `$connect` REQUEST authorizer. A missing `eventId` refuses the handshake before it runs. */
export const wsAuthorizer = {
  id: 'WsAuthorizer',
  entry: 'functions/ws-authorize.ts',
  identitySource: ['route.request.querystring.eventId'],
  // One GetItem and an HMAC: 10 s is retries to spare. Part of the handshake's longest time (below).
  timeoutSeconds: 10,
  // The viewer id secret: a `viewer` on the handshake is verified here (a forged one refuses it).
  needs: { tables: [[eventsTable, may('GetItem')]], viewerSecret: true },
} as const satisfies FunctionDef & { identitySource: readonly string[]; timeoutSeconds: number };

/** `$connect`'s own limit: one GetItem and one PutItem, each retried; short, because it bounds the handshake (below). */
const CONNECT_TIMEOUT_SECONDS = 5;

/**
 * The longest a handshake can take from API Gateway's `connectedAt` (when the request arrived): the
 * authorizer's timeout, then `$connect`'s. Until then a connection's row may exist while API Gateway
 * still answers 410 to posts (`$connect` has not returned); past it, a 410 means gone. The delivery
 * worker's connect grace (worker.ts `connectGraceMs`) is this plus a second's margin.
 */
export const HANDSHAKE_MAX_MS = (wsAuthorizer.timeoutSeconds + CONNECT_TIMEOUT_SECONDS) * 1_000;

export const wsRoutes: readonly WsRouteDef[] = [
  {
    id: 'WsConnect',
    routeKey: '$connect',
    entry: 'functions/ws-connect.ts',
    returnResponse: false,
    timeoutSeconds: CONNECT_TIMEOUT_SECONDS,
    // The event read (it exists), then the row put. The event's item is never written: the viewer count follows from the stream.
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [connectionsTable, may('PutItem')],
      ],
    },
  },
  {
    id: 'WsDisconnect',
    routeKey: '$disconnect',
    entry: 'functions/ws-disconnect.ts',
    returnResponse: false,
    needs: { tables: [[connectionsTable, may('DeleteItem')]] },
  },
  {
    id: 'WsDefault',
    routeKey: '$default',
    entry: 'functions/ws-default.ts',
    returnResponse: true,
    needs: { tables: [limited], manageConnections: ['DELETE'] },
  },
  {
    id: 'WsPublish',
    routeKey: 'publish',
    entry: 'functions/ws-publish.ts',
    returnResponse: true,
    needs: publisher,
    tracing: true,
  },
  // An edit may replace the photos: as publish, it reads and copies them.
  {
    id: 'WsEdit',
    routeKey: 'edit',
    entry: 'functions/ws-edit.ts',
    returnResponse: true,
    needs: { ...changer, images: ['publishImages'] },
  },
  { id: 'WsDelete', routeKey: 'delete', entry: 'functions/ws-delete.ts', returnResponse: true, needs: changer },
  { id: 'WsPin', routeKey: 'pin', entry: 'functions/ws-pin.ts', returnResponse: true, needs: changer },
  {
    id: 'WsSync',
    routeKey: 'sync',
    entry: 'functions/ws-sync.ts',
    returnResponse: true,
    // RepostCounts: the entries a sync sends carry their repost totals, as the timeline's do.
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [entriesTable, may('Query')],
        [changesTable, may('Query')],
        [repostCountsTable, may('Query')],
        limited,
      ],
      manageConnections: ['POST', 'DELETE'],
    },
  },
  {
    id: 'WsRepost',
    routeKey: 'repost',
    entry: 'functions/ws-repost.ts',
    returnResponse: true,
    needs: {
      tables: [[entriesTable, may('GetItem')], [repostsTable, may('PutItem')], limited],
      manageConnections: ['DELETE'],
    },
  },
  {
    id: 'WsPing',
    routeKey: 'ping',
    entry: 'functions/ws-ping.ts',
    returnResponse: true,
    needs: { tables: [limited], manageConnections: ['DELETE'] },
  },
];

export const httpRoutes: readonly HttpRouteDef[] = [
  {
    id: 'HttpCreateEvent',
    routeKey: 'POST /events',
    entry: 'functions/http-create-event.ts',
    needs: { tables: [[eventsTable, may('PutItem')]], adminKey: true },
  },
  {
    id: 'HttpListEvents',
    routeKey: 'GET /events',
    entry: 'functions/http-list-events.ts',
    // A page of the index (Query on it alone), the page's lastSeq from the table (one BatchGetItem:
    // a page is at most 100 events, BatchGetItem's limit), each event's viewer counters (a Query each).
    needs: {
      tables: [
        [eventsTable, may('BatchGetItem')],
        [repostCountsTable, may('Query')],
      ],
      indexQueries: [[eventsTable, EVENTS_BY_CREATED]],
      adminKey: true,
    },
  },
  {
    id: 'HttpOperatorToken',
    routeKey: 'POST /events/{eventId}/operator-token',
    entry: 'functions/http-operator-token.ts',
    // One UpdateItem on the event's item (the new hash and generation); nothing else is touched.
    needs: { tables: [[eventsTable, may('UpdateItem')]], adminKey: true },
  },
  {
    id: 'HttpGetEvent',
    routeKey: 'GET /events/{eventId}',
    entry: 'functions/http-get-event.ts',
    // The viewer count: the event's counters in RepostCounts, one Query.
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [repostCountsTable, may('Query')],
      ],
    },
  },
  {
    id: 'HttpTimeline',
    routeKey: 'GET /events/{eventId}/timeline',
    entry: 'functions/http-timeline.ts',
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [entriesTable, may('Query')],
        [repostCountsTable, may('Query')],
      ],
    },
  },
  {
    id: 'HttpRevisions',
    routeKey: 'GET /events/{eventId}/revisions',
    entry: 'functions/http-revisions.ts',
    // Entries: which entries are deleted now (their history is shown without text); the admin key: the organiser sees it all.
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [changesTable, may('Query')],
        [entriesTable, may('BatchGetItem')],
      ],
      adminKey: true,
    },
  },
  {
    id: 'HttpRedact',
    routeKey: 'POST /events/{eventId}/entries/{seq}/redact',
    entry: 'functions/http-redact.ts',
    // A change like a delete (the event's lastChange, the entry, its change-log line), then its text
    // blanked on the log's earlier lines (Query, UpdateItem each); the answer carries the entry's
    // repost total. The Requests table holds no text: untouched.
    needs: {
      tables: [
        [eventsTable, may('GetItem', 'UpdateItem')],
        [entriesTable, may('GetItem', 'UpdateItem')],
        [changesTable, may('PutItem', 'Query', 'UpdateItem')],
        [repostCountsTable, may('Query')],
      ],
      adminKey: true,
    },
  },
  {
    id: 'HttpReposts',
    routeKey: 'GET /events/{eventId}/reposts',
    entry: 'functions/http-reposts.ts',
    // Read only: the tally and the sweep judge spikes; an anonymous read never writes.
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [repostCountsTable, may('Query')],
      ],
    },
  },
  {
    id: 'HttpImages',
    routeKey: 'POST /events/{eventId}/images',
    entry: 'functions/http-images.ts',
    // The event's token hash (GetItem), the allowances per address and per event (Limits), and the
    // presigned POST to uploads/ (signed with the function's own s3:PutObject on that prefix).
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [limitsTable, may('UpdateItem')],
      ],
      images: ['presignUploads'],
    },
  },
  {
    id: 'HttpFeedJson',
    routeKey: 'GET /events/{eventId}/feed.json',
    entry: 'functions/http-feed.ts',
    // The event (its lastChange: the ETag), then the newest entries not deleted (one Query, paged).
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [entriesTable, may('Query')],
      ],
    },
  },
  {
    id: 'HttpFeedAtom',
    routeKey: 'GET /events/{eventId}/feed.atom',
    entry: 'functions/http-feed.ts',
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [entriesTable, may('Query')],
      ],
    },
  },
  {
    id: 'HttpSnapshot',
    routeKey: 'GET /events/{eventId}/snapshot',
    entry: 'functions/http-snapshot.ts',
    // As the feeds: the event, then its newest entries not deleted.
    needs: {
      tables: [
        [eventsTable, may('GetItem')],
        [entriesTable, may('Query')],
      ],
    },
  },
  { id: 'HttpNotFound', routeKey: '$default', entry: 'functions/http-not-found.ts', needs: { tables: [] } },
  {
    id: 'HttpViewers',
    routeKey: 'POST /viewers',
    entry: 'functions/http-viewers.ts',
    // Limits: the issuance allowance per source address.
    needs: { tables: [[limitsTable, may('UpdateItem')]], viewerSecret: true },
  },
];

/**
 * Delivery. The wake-up trigger reads the Changes table's stream and starts a worker on every shard
 * of the changed event that has none; each worker sweeps its shard's connections until idle.
 */
export const deliveryWorker = {
  id: 'DeliveryWorker',
  entry: 'functions/delivery-worker.ts',
  tracing: true,
  /** Lambda's maximum: a worker hands over to a successor before it. */
  timeoutSeconds: 900,
  /**
   * Its asynchronous invocations: AWS's two retries (a minute, then two, apart: a crashed worker's
   * lease has expired by then and the retry takes over), and no start older than 15 minutes (the
   * watchdog has started another long before). Failures go to `failureQueues.worker`.
   */
  async: { retryAttempts: 2, maxEventAgeSeconds: 900 },
  needs: {
    tables: [
      [changesTable, may('Query')],
      [connectionsTable, may('Query', 'DeleteItem')],
      [deliveryTable, may('UpdateItem')], // the lease: taken, renewed, let go, all conditional updates
      [budgetTable, may('PutItem', 'Query', 'DeleteItem')], // the account's budget ledger: register, read all, let go
    ],
    manageConnections: ['POST'],
    startWorkers: true,
  },
} as const satisfies FunctionDef & {
  timeoutSeconds: number;
  async: { retryAttempts: number; maxEventAgeSeconds: number };
};

/**
 * Where failures go, never dropped: a stream batch whose retries ran out (its metadata: shard and
 * sequence numbers, so the batch can be read again and redriven) and an asynchronous invocation of
 * the delivery worker that failed its retries (its payload). One SQS queue each.
 */
export const failureQueues = {
  streams: { id: 'StreamFailures' },
  worker: { id: 'WorkerFailures' },
} as const;

export const deliveryWake = {
  id: 'DeliveryWake',
  entry: 'functions/delivery-wake.ts',
  /** The stream it consumes, with the event source mapping's batching. */
  stream: {
    table: changesTable,
    batchSize: 100,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 10,
    maxRecordAgeSeconds: 3600,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  // The shards' leases read in one batch; the events put on the watchdog's list (an item of the Delivery table).
  needs: { tables: [[deliveryTable, may('BatchGetItem', 'UpdateItem')]], startWorkers: true },
} as const satisfies StreamTriggerDef;

/**
 * The repost tally: reads the Reposts table's stream and adds each batch to the event's counters
 * (exactly once per repost), then runs the spike detector. Batches of up to 1,000: under a storm
 * records pile up while a batch is counted, so the counters take a few writes a second, not one per
 * repost.
 */
export const repostTally = {
  id: 'RepostTally',
  entry: 'functions/repost-tally.ts',
  stream: {
    table: repostsTable,
    batchSize: 1000,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 10,
    maxRecordAgeSeconds: 3600,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  // Counters in RepostCounts (watermarks batch-read, then ADDs and puts in one transaction; the
  // detector's state); stats and spike frames join the change log with the event's counter.
  needs: {
    tables: [
      [repostCountsTable, may('GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem')],
      [eventsTable, may('GetItem', 'UpdateItem')],
      [changesTable, may('PutItem')],
    ],
  },
} as const satisfies StreamTriggerDef;

/**
 * Viewer counts: the Connections table's stream (new and old images: the row's role) is counted into
 * the event's viewer counters exactly once (TTL's removals too); each event whose audience moved gets
 * a `stats` frame, at most one a second, the last one after a wave of connects or disconnects included.
 */
export const viewerStats = {
  id: 'ViewerStats',
  entry: 'functions/viewer-stats.ts',
  stream: {
    table: connectionsTable,
    batchSize: 1000,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 10,
    maxRecordAgeSeconds: 3600,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  // The counters (a conditional UpdateItem per connection partition, a Query to sum them); a stats
  // line with the event's counter. No repost totals: it sends only the viewer count.
  needs: {
    tables: [
      [repostCountsTable, may('Query', 'UpdateItem')],
      [eventsTable, may('GetItem', 'UpdateItem')],
      [changesTable, may('PutItem')],
    ],
  },
} as const satisfies StreamTriggerDef;

/** Every stream trigger, for the stack and the local stage. */
export const streamTriggers: readonly StreamTriggerDef[] = [deliveryWake, repostTally, viewerStats];

/**
 * Ends spikes after their wave: the detector judges seconds when reposts arrive or the reposts are
 * read, so after the last repost of a wave nothing would end its spike in the table. Once a minute
 * this judges every event with an open spike (the tally marks them when a spike starts).
 */
export const spikeSweep = {
  id: 'SpikeSweep',
  entry: 'functions/spike-sweep.ts',
  everyMinutes: 1,
  // As HttpReposts (judging may still announce a spike that starts in the second judged), and it
  // takes events off its list (a DeleteItem).
  needs: {
    tables: [
      [repostCountsTable, may('GetItem', 'Query', 'PutItem', 'DeleteItem')],
      [eventsTable, may('GetItem', 'UpdateItem')],
      [changesTable, may('PutItem')],
    ],
  },
} as const satisfies ScheduledDef;

/**
 * Heals lost wake-ups within seconds: EventBridge runs it once a minute and it keeps checking, every
 * `checkEverySeconds`, for most of that minute. It looks only at events on the watch list (which the
 * wake-up keeps in the Delivery table) and wakes every shard that has no worker and whose cursor is
 * still behind a change it was already behind at the previous check. An event leaves the list once
 * every shard is caught up and no wake-up has come for `watchForMinutes`.
 */
export const deliveryWatchdog = {
  id: 'DeliveryWatchdog',
  entry: 'functions/delivery-watchdog.ts',
  everyMinutes: 1,
  /** One invocation checks for this long, so one is running at almost any moment. */
  runSeconds: 58,
  timeoutSeconds: 70,
  checkEverySeconds: 2,
  watchForMinutes: 30,
  // It only reads a few small items and sleeps: the smallest memory is the cheapest minute.
  memoryMB: 128,
  // The watch list read and updated, the shards' leases batch-read; the events' lastChange.
  needs: {
    tables: [
      [deliveryTable, may('GetItem', 'BatchGetItem', 'UpdateItem')],
      [eventsTable, may('GetItem')],
    ],
    startWorkers: true,
  },
} as const satisfies ScheduledDef & { runSeconds: number; checkEverySeconds: number; watchForMinutes: number };

/** Every scheduled function, for the stack and the local stage. */
export const scheduled: readonly ScheduledDef[] = [spikeSweep, deliveryWatchdog];
