// Events: created by the organiser, read by anyone; and who a connecting client is for an event.
import { notFound, unauthorized } from './errors';
import type { Clock, EntryStore, EventRecord, EventStore } from './ports';
import { eventIdSchema, type CreateEventBody, type Entry, type Role } from './protocol';
import { hashToken, newEventId, newOperatorToken, tokenMatches } from './secrets';

export interface EventView {
  eventId: string;
  title: string;
  startsAt?: string;
  lastSeq: number;
  viewers: number;
  createdAt: string;
}

export interface CreatedEvent {
  eventId: string;
  title: string;
  startsAt?: string;
  operatorToken: string;
  createdAt: string;
}

export class EventService {
  constructor(private readonly deps: { events: EventStore; entries: EntryStore; clock: Clock }) {}

  /** The operator token is returned once, here; only its hash is stored. */
  async create(body: CreateEventBody): Promise<CreatedEvent> {
    const operatorToken = newOperatorToken();
    const record: EventRecord = {
      eventId: newEventId(),
      title: body.title,
      ...(body.startsAt ? { startsAt: body.startsAt } : {}),
      createdAt: this.deps.clock().toISOString(),
      lastSeq: 0,
      lastChange: 0,
      viewers: 0,
      tokenHash: hashToken(operatorToken),
    };
    await this.deps.events.create(record);
    const { eventId, title, startsAt, createdAt } = record;
    return { eventId, title, ...(startsAt ? { startsAt } : {}), operatorToken, createdAt };
  }

  async get(eventId: string): Promise<EventView> {
    const event = await this.find(eventId);
    const { title, startsAt, lastSeq, viewers, createdAt } = event;
    // A missed $disconnect can leave the counter briefly off; never show a negative audience.
    return { eventId, title, ...(startsAt ? { startsAt } : {}), lastSeq, viewers: Math.max(0, viewers), createdAt };
  }

  /** A page of the timeline; `next` is the `after` for the following page, null at the end. */
  async timeline(eventId: string, after: number, limit: number): Promise<{ items: Entry[]; next: number | null }> {
    await this.find(eventId);
    const rows = await this.deps.entries.list(eventId, after, limit + 1);
    const items = rows.slice(0, limit);
    const next = rows.length > limit ? (items.at(-1)?.seq ?? null) : null;
    return { items, next };
  }

  /**
   * Who may connect: anyone as a viewer, the holder of the event's operator token as its reporter.
   * Unknown events are `not_found`; a token that does not match is `unauthorized`, never a viewer.
   */
  async roleFor(eventId: string, token: string | undefined): Promise<Role> {
    const event = await this.find(eventId);
    if (token === undefined) return 'viewer';
    if (!tokenMatches(token, event.tokenHash)) throw unauthorized('the operator token does not match this event');
    return 'reporter';
  }

  private async find(eventId: string): Promise<EventRecord> {
    if (!eventIdSchema.safeParse(eventId).success) throw notFound(`event ${JSON.stringify(eventId)} does not exist`);
    const event = await this.deps.events.get(eventId);
    if (!event) throw notFound(`event ${eventId} does not exist`);
    return event;
  }
}
