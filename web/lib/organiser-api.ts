// The organiser's side of the HTTP API, with the admin key: list events, create one, rotate a
// reporter's token. The key lives in this tab's sessionStorage only — never localStorage, which
// would keep it on a shared machine after the tab is closed.
import { ApiError, type PageConfig } from './config';
import type { CreatedEvent, EventSummary } from './types';

export type { CreatedEvent };
/** `GET /events` items (PROTOCOL.md v1.1), as the backend defines them. */
export type ListedEvent = EventSummary;

export interface EventList {
  items: ListedEvent[];
  next: string | null;
}

export const ADMIN_KEY_STORAGE = 'livecast.adminKey';

/** The key kept for this tab, if any (storage blocked: none). */
export function storedAdminKey(): string | undefined {
  try {
    return sessionStorage.getItem(ADMIN_KEY_STORAGE) ?? undefined;
  } catch {
    return undefined;
  }
}

export function keepAdminKey(key: string | undefined): void {
  try {
    if (key === undefined) sessionStorage.removeItem(ADMIN_KEY_STORAGE);
    else sessionStorage.setItem(ADMIN_KEY_STORAGE, key);
  } catch {
    // Storage blocked: the key lives only as long as the page.
  }
}

export class OrganiserApi {
  constructor(
    private readonly config: PageConfig,
    readonly adminKey: string,
  ) {}

  /** One page of the newest-first list; `after` is the `next` of the page before. */
  list(after?: string, limit = 20): Promise<EventList> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after !== undefined) q.set('after', after);
    return this.call<EventList>('GET', `/events?${q.toString()}`);
  }

  create(title: string, startsAt?: string): Promise<CreatedEvent> {
    return this.call<CreatedEvent>('POST', '/events', { title, ...(startsAt ? { startsAt } : {}) });
  }

  rotateToken(eventId: string): Promise<{ operatorToken: string }> {
    return this.call('POST', `/events/${encodeURIComponent(eventId)}/operator-token`);
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.config.apiUrl}${path}`, {
      method,
      // The key never goes into a URL (access logs keep URLs, never this header).
      headers: {
        authorization: `Bearer ${this.adminKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      cache: 'no-store',
    });
    const json = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    if (!res.ok) throw new ApiError(res.status, json?.error?.message ?? `HTTP ${res.status}`);
    return json as T;
  }
}

/** A `datetime-local` value (the browser's local time, no zone) as ISO-8601 with its offset (UTC), or undefined when empty. */
export function startsAtFromLocal(value: string): string | undefined {
  if (value.trim() === '') return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a date and time: ${value}`);
  return date.toISOString();
}

/** The pages' addresses for an event, absolute on `origin` (the pages' own). */
export function eventLinks(origin: string, eventId: string, operatorToken?: string) {
  const id = encodeURIComponent(eventId);
  return {
    live: `${origin}/live/${id}`,
    replay: `${origin}/replay/${id}`,
    embed: `${origin}/embed/${id}`,
    // The token rides the fragment: never sent to a server, moved to sessionStorage by the console at once.
    report:
      operatorToken === undefined
        ? `${origin}/report/${id}`
        : `${origin}/report/${id}#token=${encodeURIComponent(operatorToken)}`,
  };
}

const ATTR_ESCAPES: Record<string, string> = { '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;', "'": '&#39;' };
const escapeAttr = (s: string) => s.replace(/[&"<>']/g, (c) => ATTR_ESCAPES[c]!);

/**
 * The snippet an organiser pastes into their own site. The title is the event's (the frame's
 * accessible name): escaped, so a title with quotes or markup cannot break out of the attribute.
 */
export function embedSnippet(origin: string, eventId: string, title: string): string {
  return `<iframe src="${escapeAttr(eventLinks(origin, eventId).embed)}" title="${escapeAttr(title)}" width="100%" height="600" style="border:0;max-width:480px" loading="lazy"></iframe>`;
}
