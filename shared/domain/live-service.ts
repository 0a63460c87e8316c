// The live path: a reporter's write becomes a durable, gapless entry and a numbered change, and is
// acked; delivery to every connection follows from the change log. A (re)connecting client catches
// up with sync.
import { deleteEntry, editEntry, newEntry, pinEntry } from './entry';
import { conflict, forbidden, notFound, rateLimited } from './errors';
import { attempts } from '../retry';
import { encodeFrames } from './frames';
import type { ImagePublisher } from './image-publisher';
import { withRepostTotals } from './reposts/totals';
import type {
  ChangeLog,
  Clock,
  CommitResult,
  ConnectionGateway,
  EntryStore,
  EventStore,
  Logger,
  PostResult,
  RepostStore,
  RequestRecord,
  WriteAction,
} from './ports';
import type {
  AckFrame,
  DeleteFrame,
  EditFrame,
  Entry,
  EntryImage,
  ImageRef,
  PinFrame,
  PublishFrame,
  Role,
  ServerFrame,
  UpdateFrame,
} from './protocol';

/** Who sent a frame: known from the connection the $connect authorizer accepted. */
export interface Caller {
  connectionId: string;
  eventId: string;
  role: Role;
  /** A reporter's: the operator token generation its handshake was admitted with (absent: 0). */
  tokenGen?: number;
}

export interface LiveServiceDeps {
  events: EventStore;
  entries: EntryStore;
  /** The change log a sync reads, consistently (never a shared, slightly old read). */
  changes: ChangeLog;
  /** Repost totals for the entries a sync sends (a page opened late shows the counts so far). */
  reposts?: Pick<RepostStore, 'totals'>;
  gateway: ConnectionGateway;
  clock: Clock;
  log: Logger;
  /** Optimistic-concurrency retries before a write gives up with `conflict`. */
  maxAttempts?: number;
  /** Publishes the photos of a publish or an edit (only the functions granted the bucket have it). */
  images?: ImagePublisher;
}

const SYNC_PAGE = 200;
/** Posts of a reply in all: the first and 8 retries. */
const REPLY_ATTEMPTS = 9;

/** Where an event's counters stood after this instance's last write to it. */
interface Cursor {
  lastSeq: number;
  lastChange: number;
}

export class LiveService {
  private readonly maxAttempts: number;
  /**
   * The counters this instance last committed, per event: the next write expects them without
   * reading the event first (one round trip instead of two for a reporter's run of updates). The
   * write's condition still checks them; when another writer got in between it fails as 'stale',
   * and the retry reads the event.
   */
  private readonly cursors = new Map<string, Cursor>();

  constructor(private readonly deps: LiveServiceDeps) {
    this.maxAttempts = deps.maxAttempts ?? 25;
  }

  /**
   * Returns the ack once the change is durable. The handler sends it as the route's response: a
   * reply through the management API shares the account's budget with delivery and could be
   * throttled past its retries under a storm (the reporter then waited for an ack that never came).
   */
  async publish(caller: Caller, frame: PublishFrame): Promise<AckFrame> {
    requireReporter(caller, 'publish');
    const { eventId } = caller;
    const tokenGen = caller.tokenGen ?? 0;
    // Stored where they are served before the entry is written: an ack means the photos are durable
    // too. A retry with the same clientId checks and copies again (the same bytes), then gets the first ack.
    const images = await this.publishImages(eventId, frame.images);
    const outcome = await this.retrying(eventId, frame.clientId, 'publish', async () => {
      const expected = this.cursors.get(eventId) ?? (await this.readCursor(eventId, tokenGen));
      const entry = newEntry(
        expected.lastSeq + 1,
        { kind: frame.kind, text: frame.text, ...(images ? { images } : {}) },
        new Date(this.deps.clock()),
      );
      const request = requestOf(frame.clientId, 'publish', entry);
      const result = await this.deps.entries.commitPublish(eventId, { ...expected, tokenGen }, entry, request);
      if (result.ok) this.cursors.set(eventId, { lastSeq: entry.seq, lastChange: expected.lastChange + 1 });
      return { entry, result };
    });
    return outcome.ack;
  }

  async edit(caller: Caller, frame: EditFrame): Promise<AckFrame> {
    requireReporter(caller, 'edit');
    const images = await this.publishImages(caller.eventId, frame.images);
    return this.change(caller, frame, 'edit', (entry, now) => editEntry(entry, frame.text, now, images));
  }

  /** The entry's `images` for a frame's refs (undefined when it named none); a bad ref refuses the whole frame. */
  private async publishImages(
    eventId: string,
    refs: readonly ImageRef[] | undefined,
  ): Promise<EntryImage[] | undefined> {
    if (refs === undefined) return undefined;
    if (refs.length === 0) return [];
    if (!this.deps.images)
      throw new Error('this function was not given the photos bucket: images cannot be published here');
    return this.deps.images.publish(eventId, refs);
  }

  delete(caller: Caller, frame: DeleteFrame): Promise<AckFrame> {
    return this.change(caller, frame, 'delete', (entry, now) => deleteEntry(entry, now));
  }

  pin(caller: Caller, frame: PinFrame): Promise<AckFrame> {
    return this.change(caller, frame, 'pin', (entry, now) => pinEntry(entry, frame.pinned, now));
  }

  /**
   * Sends the caller every entry after `since`, in seq order, in messages under the frame limit, then
   * `synced`. With `sinceChange`, first the entries at or below `since` changed after that change
   * (their current state), so a client back from a drop also sees the corrections it missed.
   *
   * With `limit`, at most that many entries (the corrected ones count) and `synced.next`: the `since`
   * to go on from, with `synced.lastChange` as its `sinceChange`, or null at the end. Each sync spends
   * @connections posts from the account's budget; a capped one spends a bounded share of it.
   */
  /**
   * `charge`: told how many @connections posts the reply will take before any is made; it throws
   * (rate_limited) to refuse a reply its caller cannot afford (functions/ws-sync.ts).
   */
  async sync(
    caller: Caller,
    since: number,
    sinceChange?: number,
    limit?: number,
    charge?: (posts: number) => Promise<void>,
  ): Promise<void> {
    const { eventId } = caller;
    const event = await this.deps.events.get(eventId);
    if (!event) throw notFound(`event ${eventId} does not exist`);
    let lastSeq = Math.max(event.lastSeq, since);
    const cap = limit ?? Number.POSITIVE_INFINITY;
    const frames: ServerFrame[] = [];
    // The held entries are brought up to this change; less than lastChange when their corrections
    // alone filled the reply.
    let reflected = event.lastChange;
    let sent = 0;
    // With since 0 every entry is sent in its current state anyway: nothing to look up.
    if (since > 0 && sinceChange !== undefined && sinceChange < event.lastChange) {
      // The change log says which held entries changed; their newest revision is read from the log
      // itself (later revisions may follow live: apply by (seq, rev)).
      // The end is the event's lastChange, never a short read: a read may return fewer lines than
      // asked for (a store's page ran out of room) with more to come.
      const revised = new Map<number, Entry>();
      read: for (let after = sinceChange; after < event.lastChange;) {
        const lines = await this.deps.changes.changesAfter(eventId, after, SYNC_PAGE);
        for (const line of lines) {
          if (line.changeNo > event.lastChange) break read;
          if (!('entry' in line) || line.entry.seq > since) continue;
          if (!revised.has(line.entry.seq) && revised.size >= cap) {
            // One more entry would pass the limit: this reply reflects the log up to the line before.
            reflected = line.changeNo - 1;
            break read;
          }
          revised.set(line.entry.seq, line.entry);
        }
        // The log is gapless: nothing at all before lastChange means it cannot be read now. No
        // `synced` then (it would claim what was not sent); the client gets an error and asks again.
        const last = lines.at(-1);
        if (!last)
          throw new Error(
            `event ${eventId}: the change log ends at ${after}, before its lastChange ${event.lastChange}`,
          );
        after = last.changeNo;
      }
      const held = await this.withReposts(
        eventId,
        [...revised.keys()].sort((a, b) => a - b).map((seq) => revised.get(seq)!),
      );
      for (const entry of held) frames.push(updateFrame(eventId, entry));
      sent = held.length;
    }
    // New entries up to the event's lastSeq as read above (later ones reach this connection live),
    // again whatever the size of each read; none while the held entries' corrections are not all sent.
    let next: number | null = reflected < event.lastChange ? since : null;
    for (let after = since; next === null && after < event.lastSeq;) {
      if (sent >= cap) {
        next = after;
        break;
      }
      const page = await this.deps.entries.list(eventId, after, Math.min(SYNC_PAGE, cap - sent));
      for (const entry of await this.withReposts(eventId, page)) frames.push(updateFrame(eventId, entry));
      sent += page.length;
      const last = page.at(-1);
      if (!last)
        throw new Error(`event ${eventId}: the timeline ends at ${after}, before its lastSeq ${event.lastSeq}`);
      after = last.seq;
    }
    const newest = frames.at(-1);
    if (newest?.type === 'update') lastSeq = Math.max(lastSeq, newest.entry.seq);
    frames.push({ type: 'synced', lastSeq, lastChange: reflected, ...(limit !== undefined ? { next } : {}) });
    const messages = encodeFrames(frames);
    await charge?.(messages.length);
    for (const message of messages) {
      const result = await this.reply(caller.connectionId, message);
      if (result === 'gone') return;
      // A part that could not be sent must not be followed by `synced`: the client would believe
      // itself caught up with a hole. It gets this error instead (the route's response, outside the
      // throttled budget) and syncs again.
      if (result !== 'ok') throw rateLimited('the catch-up was throttled part way; send sync again in a moment');
    }
  }

  /** Entries (in seq order) with their repost totals, when this service was given the counters. */
  private withReposts(eventId: string, entries: Entry[]): Promise<Entry[]> {
    return this.deps.reposts ? withRepostTotals(this.deps.reposts, eventId, entries) : Promise.resolve(entries);
  }

  private async change(
    caller: Caller,
    frame: { clientId: string; seq: number },
    action: Exclude<WriteAction, 'publish'>,
    apply: (entry: Entry, now: Date) => Entry,
  ): Promise<AckFrame> {
    requireReporter(caller, action);
    const { eventId } = caller;
    const tokenGen = caller.tokenGen ?? 0;
    // A refusal may still answer the retry of a change that succeeded (a repeated delete, or a
    // clientId reused for a missing seq): the first outcome wins.
    const refuse = async (err: Error) => {
      const previous = await this.deps.entries.getRequest(eventId, frame.clientId);
      if (previous) return { entry: undefined, result: { ok: false, reason: 'duplicate', previous } as const };
      throw err;
    };
    const outcome = await this.retrying(eventId, frame.clientId, action, async () => {
      // The event first: its lastChange read before the entry can only be older, never newer.
      const event = this.cursors.get(eventId) ?? (await this.readCursor(eventId, tokenGen));
      const current = await this.deps.entries.get(eventId, frame.seq);
      if (!current) return refuse(notFound(`entry ${frame.seq} does not exist in event ${eventId}`));
      let entry: Entry;
      try {
        entry = apply(current, new Date(this.deps.clock()));
      } catch (err) {
        return refuse(err as Error);
      }
      const request = requestOf(frame.clientId, action, entry);
      const expected = { lastChange: event.lastChange, rev: current.rev, tokenGen };
      const result = await this.deps.entries.commitChange(eventId, expected, entry, request);
      if (result.ok) this.cursors.set(eventId, { lastSeq: event.lastSeq, lastChange: event.lastChange + 1 });
      return { entry, result };
    });
    return outcome.ack;
  }

  /**
   * The event's counters as stored now (and forgets what this instance remembered). Refuses a
   * reporter whose token was replaced since its handshake: a write that failed on the token's
   * condition comes back here through its retry, so the refusal costs no read of its own.
   */
  private async readCursor(eventId: string, tokenGen: number): Promise<Cursor> {
    this.cursors.delete(eventId);
    const event = await this.deps.events.get(eventId);
    if (!event) throw notFound(`event ${eventId} does not exist`);
    if ((event.tokenGen ?? 0) !== tokenGen) {
      throw forbidden(
        'the operator token of this connection was replaced by the organiser; reconnect with the new token',
      );
    }
    return { lastSeq: event.lastSeq, lastChange: event.lastChange };
  }

  /** Runs an optimistic write until it commits, turns out to be a retry, or keeps losing races. */
  private async retrying(
    eventId: string,
    clientId: string,
    action: WriteAction,
    attempt: () => Promise<{ entry: Entry | undefined; result: CommitResult }>,
  ): Promise<{ ack: AckFrame }> {
    // The first miss may only be a stale memory of this instance's own: the first retry goes at once.
    // Then short, jittered waits (up to 5, 10, … 200 ms): contention here is two reporters racing
    // for the next seq, not a queue.
    for await (const _try of attempts({ tries: this.maxAttempts, immediate: 1, baseMs: 2.5, capMs: 200 })) {
      const { entry, result } = await attempt();
      if (result.ok && entry) return { ack: ackOf(clientId, entry) };
      if (!result.ok && result.reason === 'duplicate') {
        const { previous } = result;
        if (previous.action !== action) {
          throw conflict(`clientId ${clientId} was already used for a ${previous.action}; use a new clientId`);
        }
        return { ack: { type: 'ack', clientId, seq: previous.seq, rev: previous.rev } };
      }
      // Someone else wrote first: the next attempt reads the event afresh.
      this.cursors.delete(eventId);
    }
    throw conflict('too many simultaneous writes to this event; please retry');
  }

  /** A reply to the caller shares the account's budget with delivery: a 429 is waited out, not dropped. */
  private async reply(connectionId: string, message: Uint8Array): Promise<PostResult> {
    // Waits of up to 50, 100, … 2,000 ms between the tries.
    let result: PostResult = 'throttled';
    for await (const _try of attempts({ tries: REPLY_ATTEMPTS, baseMs: 25, capMs: 2_000 })) {
      result = await this.deps.gateway.post(connectionId, message);
      if (result !== 'throttled') break;
    }
    return result;
  }
}

function requireReporter(caller: Caller, action: string): void {
  if (caller.role !== 'reporter')
    throw forbidden(`only the event's reporter may ${action}; connect with the operator token`);
}

const requestOf = (clientId: string, action: WriteAction, entry: Entry): RequestRecord => ({
  clientId,
  action,
  seq: entry.seq,
  rev: entry.rev,
});

const ackOf = (clientId: string, entry: Entry): AckFrame => ({ type: 'ack', clientId, seq: entry.seq, rev: entry.rev });

export const updateFrame = (eventId: string, entry: Entry): UpdateFrame => ({ type: 'update', eventId, entry });
