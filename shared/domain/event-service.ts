// Events: created by the organiser, read by anyone; and who a connecting client is for an event.
import { attempts } from '../retry';
import { redactEntry } from './entry';
import { decodeEventCursor, encodeEventCursor } from './event-cursor';
import { badRequest, conflict, notFound, unauthorized } from './errors';
import type { ChangeLog, Clock, EntryStore, EventRecord, EventStore, RepostStore, ViewerCounts } from './ports';
import {
  eventIdSchema,
  type CreateEventBody,
  type CreatedEvent,
  type Entry,
  type EventSummary,
  type EventView,
  type RepostsView,
  type Revision,
  type Role,
} from './protocol';

export type { CreatedEvent, EventView, RepostsView } from './protocol';
import { withRepostTotals } from './reposts/totals';
import { hashToken, newEventId, newOperatorToken, tokenMatches } from './secrets';

/** Optimistic retries of a redaction racing the reporter's writes, as for the reporter's own. */
const REDACT_ATTEMPTS = 25;

export class EventService {
  constructor(
    private readonly deps: {
      events: EventStore;
      entries: EntryStore;
      /** The change log, read consistently (the timeline's corrections). */
      changes: ChangeLog;
      clock: Clock;
      reposts: Pick<RepostStore, 'totals' | 'seconds' | 'spikes'>;
      viewers: Pick<ViewerCounts, 'count'>;
    },
  ) {}

  /** The operator token is returned once, here; only its hash is stored. */
  async create(body: CreateEventBody): Promise<CreatedEvent> {
    const operatorToken = newOperatorToken();
    const record: EventRecord = {
      eventId: newEventId(),
      title: body.title,
      ...(body.startsAt ? { startsAt: body.startsAt } : {}),
      createdAt: new Date(this.deps.clock()).toISOString(),
      lastSeq: 0,
      lastChange: 0,
      tokenHash: hashToken(operatorToken),
      tokenGen: 0,
    };
    await this.deps.events.create(record);
    const { eventId, title, startsAt, createdAt } = record;
    return { eventId, title, ...(startsAt ? { startsAt } : {}), operatorToken, createdAt };
  }

  async get(eventId: string): Promise<EventView> {
    const event = await this.find(eventId);
    const { title, startsAt, lastSeq, createdAt } = event;
    // Counted from the Connections stream, off the event item: it follows a connect within a stream poll.
    const viewers = await this.deps.viewers.count(eventId);
    return { eventId, title, ...(startsAt ? { startsAt } : {}), lastSeq, viewers, createdAt };
  }

  /**
   * The organiser's list, newest first: `next` is the cursor of the following page, null at the
   * end (known from a row read beyond the page, never from a short read). Viewers as `get` counts them.
   */
  async list(after: string | undefined, limit: number): Promise<{ items: EventSummary[]; next: string | null }> {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw badRequest(`limit must be a positive whole number, not ${limit}`);
    const rows = await this.deps.events.listNewest(
      after === undefined ? undefined : decodeEventCursor(after),
      limit + 1,
    );
    const page = rows.slice(0, limit);
    const viewers = await Promise.all(page.map((e) => this.deps.viewers.count(e.eventId)));
    const items = page.map(({ eventId, title, createdAt, startsAt, lastSeq }, i) => ({
      eventId,
      title,
      createdAt,
      ...(startsAt ? { startsAt } : {}),
      lastSeq,
      viewers: viewers[i] ?? 0,
    }));
    const last = page.at(-1);
    return { items, next: rows.length > limit && last ? encodeEventCursor(last) : null };
  }

  /**
   * A page of the timeline; `next` is the `after` for the following page, null at the end. The end
   * is known from the event's lastSeq (or a row read beyond the page), never from a short read.
   */
  async timeline(eventId: string, after: number, limit: number): Promise<{ items: Entry[]; next: number | null }> {
    const event = await this.find(eventId);
    const rows = await this.deps.entries.list(eventId, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1)?.seq;
    const next = last !== undefined && (rows.length > limit || last < event.lastSeq) ? last : null;
    return { items: await withRepostTotals(this.deps.reposts, eventId, page), next };
  }

  /**
   * Every revision of every entry, in the order they were made: the change log's entry lines after
   * change `after`. Lines that carry live frames (stats, spikes) are skipped but still count
   * toward `limit`, so a page may hold fewer items; `next` (the last change number read) is null
   * at the end — known from the event's lastChange (or a line read beyond the page), never from a
   * short read.
   */
  async revisions(
    eventId: string,
    after: number,
    limit: number,
    reader: 'anyone' | 'organiser' = 'anyone',
  ): Promise<{ items: Revision[]; next: number | null }> {
    const event = await this.find(eventId);
    const lines = await this.deps.changes.changesAfter(eventId, after, limit + 1);
    const page = lines.slice(0, limit);
    const revisions = page.flatMap((line) => ('entry' in line ? [{ changeNo: line.changeNo, entry: line.entry }] : []));
    const last = page.at(-1)?.changeNo;
    const next = last !== undefined && (lines.length > limit || last < event.lastChange) ? last : null;
    if (reader === 'organiser') return { items: revisions, next };
    return { items: await this.withoutDeletedText(eventId, revisions), next };
  }

  /**
   * What anyone may see of a page of revisions: an entry deleted now is deleted in its whole history
   * (every revision's text "" and images []), so its earlier text and photos cannot be read back after
   * the reporter took it down. The entries' current state is read after the lines (one batched read
   * per page): a deletion committed before that read is always honoured. `text` and `images` are the
   * fields that carry what the reporter posted (a field added later that does must be blanked here too).
   */
  private async withoutDeletedText(eventId: string, revisions: Revision[]): Promise<Revision[]> {
    const carries = (r: Revision) => r.entry.text !== '' || r.entry.images.length > 0;
    const seqs = [...new Set(revisions.filter(carries).map((r) => r.entry.seq))];
    if (seqs.length === 0) return revisions;
    const current = await this.deps.entries.getMany(eventId, seqs);
    return revisions.map((r) => {
      const now = current.get(r.entry.seq);
      // An entry whose item cannot be found is treated as deleted: when unsure, show nothing.
      const hidden = carries(r) && (now === undefined || now.deleted);
      return hidden ? { changeNo: r.changeNo, entry: { ...r.entry, text: '', images: [] } } : r;
    });
  }

  /**
   * The organiser's redaction of entry `seq`, for what must not stay anywhere (a phone number posted
   * by mistake). The entry becomes deleted and `redacted` in one change of the change log (so it
   * leaves every live page as a delete does), then its text is blanked on every earlier line of the
   * log. Safe to repeat: an entry already redacted gets no new revision, only the scrub again (which
   * finishes one a failure cut short). Returns the entry as it now stands.
   */
  async redact(eventId: string, seq: number): Promise<Entry> {
    if (!Number.isSafeInteger(seq) || seq < 1) throw badRequest(`seq must be a positive whole number, not ${seq}`);
    let entry: Entry | undefined;
    // The first retry at once (the event may only have moved on under this read), then with backoff.
    for await (const _attempt of attempts({ tries: REDACT_ATTEMPTS, immediate: 1 })) {
      // The event first, as for the reporter's changes: its lastChange read before the entry can only be older.
      const event = await this.find(eventId);
      const current = await this.deps.entries.get(eventId, seq);
      if (!current) throw notFound(`entry ${seq} does not exist in event ${eventId}`);
      if (current.redacted) {
        entry = current;
        break;
      }
      const redacted = redactEntry(current, new Date(this.deps.clock()));
      const result = await this.deps.entries.commitRedaction(
        eventId,
        { lastChange: event.lastChange, rev: current.rev },
        redacted,
      );
      if (result.ok) {
        entry = redacted;
        break;
      }
    }
    if (!entry) throw conflict('too many simultaneous writes to this event; please retry');
    await this.deps.entries.scrubRevisions(eventId, seq);
    const [withTotal] = await withRepostTotals(this.deps.reposts, eventId, [entry]);
    return withTotal ?? entry;
  }

  /** The repost series in buckets of `bucket` seconds, the spikes recorded, and the total. */
  async reposts(eventId: string, bucket: number): Promise<RepostsView> {
    await this.find(eventId);
    const [seconds, spikes] = await Promise.all([
      this.deps.reposts.seconds(eventId),
      this.deps.reposts.spikes(eventId),
    ]);
    const size = bucket * 1000;
    const buckets: { t: number; count: number }[] = [];
    let total = 0;
    for (const s of seconds) {
      const count = Object.values(s.bySeq).reduce((a, b) => a + b, 0);
      total += count;
      const t = Math.floor(s.t / size) * size;
      const lastBucket = buckets.at(-1);
      if (lastBucket?.t === t) lastBucket.count += count;
      else buckets.push({ t, count });
    }
    return { buckets, spikes, total };
  }

  /**
   * Who may connect: anyone as a viewer, the holder of the event's operator token as its reporter.
   * Unknown events are `not_found`; a token that does not match is `unauthorized`, never a viewer.
   */
  async roleFor(eventId: string, token: string | undefined): Promise<Role> {
    return (await this.admit(eventId, token)).role;
  }

  /**
   * As roleFor, with the token generation a reporter is admitted under: hash and generation come
   * from one read of the event, so a handshake that raced a rotation holds the generation its token
   * belongs to, and its writes are refused once that generation is gone.
   */
  async admit(eventId: string, token: string | undefined): Promise<{ role: Role; tokenGen?: number }> {
    const event = await this.find(eventId);
    if (token === undefined) return { role: 'viewer' };
    if (!tokenMatches(token, event.tokenHash)) throw unauthorized('the operator token does not match this event');
    return { role: 'reporter', tokenGen: event.tokenGen ?? 0 };
  }

  /**
   * A new operator token for the event, returned once, as at creation; only its hash is stored, in
   * place of the old one. From the moment it is stored the old token opens no connection and the
   * connections it opened can no longer write (see LiveService).
   */
  async rotateToken(eventId: string): Promise<{ operatorToken: string }> {
    if (!eventIdSchema.safeParse(eventId).success) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
    const operatorToken = newOperatorToken();
    const tokenGen = await this.deps.events.rotateToken(eventId, hashToken(operatorToken));
    if (tokenGen === undefined) throw notFound(`event ${eventId} does not exist`);
    return { operatorToken };
  }

  private async find(eventId: string): Promise<EventRecord> {
    if (!eventIdSchema.safeParse(eventId).success) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
    const event = await this.deps.events.get(eventId);
    if (!event) throw notFound(`event ${eventId} does not exist`);
    return event;
  }
}
