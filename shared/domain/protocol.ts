// The wire contract (PROTOCOL.md v1) as zod schemas: the one definition of every frame and body,
// shared by handlers, tests and the web pages (which import its types only: web/lib/types.ts).
import * as z from 'zod';
import type { Spike } from './reposts/spike-detector';

import { charCount, checkText, MAX_TEXT_CHARS, type TextRule } from './text';

export { charCount, MAX_TEXT_CHARS };
export const MAX_CLIENT_ID_CHARS = 64;
export const MAX_TITLE_CHARS = 200;
/** Every server message stays under API Gateway's 32 KB frame, in UTF-8 bytes. */
export const MAX_FRAME_BYTES = 32 * 1024;
/** API Gateway's limit for one WebSocket message. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
/** Largest HTTP request body the API accepts. */
export const MAX_HTTP_BODY_BYTES = 16 * 1024;

export const ROLES = ['viewer', 'reporter'] as const;
export type Role = (typeof ROLES)[number];

export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'too_large',
  'rate_limited',
  'conflict',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

// --- shapes -------------------------------------------------------------------------------------

export const entryKind = z.enum(['text', 'key']);
export type EntryKind = z.infer<typeof entryKind>;

/** An image id (shared/domain/images.ts newImageId): 128 random bits, URL-safe. Here so pages can import it without node:crypto. */
export const imageIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'not an image id');

/** MAX_ALT_CHARS: an alt text describes a photo in a sentence or two, for screen readers. */
export const MAX_ALT_CHARS = 300;
/** v1.1: at most this many photos an update. */
export const MAX_IMAGES = 4;

/** A published photo: width and height read from its stored bytes, so pages reserve its box before it loads. */
export const entryImageSchema = z.object({
  url: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  alt: z.string().optional(),
});
export type EntryImage = z.infer<typeof entryImageSchema>;

export const entrySchema = z.object({
  seq: z.number().int().positive(),
  rev: z.number().int().positive(),
  kind: entryKind,
  text: z.string(),
  pinned: z.boolean(),
  deleted: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  reposts: z.number().int().nonnegative(),
  /** (extension) The organiser removed its text from storage: only on redacted entries and their scrubbed revisions. */
  redacted: z.literal(true).optional(),
  /** v1.1: the update's photos in display order (`[]` when none; also on entries stored before photos existed). */
  images: z.array(entryImageSchema),
});
export type Entry = z.infer<typeof entrySchema>;

/** One revision of an entry as the change log holds it: every publish, edit, delete and pin, numbered per event. */
export type Revision = { changeNo: number; entry: Entry };

// --- client -> server ---------------------------------------------------------------------------

/** A text over the limit is `too_large`, not `bad_request`: the message tells the reporter which. */
const TOO_LARGE = 'too_large';

/**
 * A string a client wrote, under one text rule (shared/domain/text.ts): refused with its message,
 * or passed on as it will be stored (line breaks made \n, trimmed where the rule says).
 * `tooLongIs`: the error code for a text over the rule's maxChars. `emptyAllowed`: '' passes as it is.
 */
const freeText = (rule: TextRule, tooLongIs?: typeof TOO_LARGE, emptyAllowed = false) =>
  z.string().transform((raw, ctx) => {
    if (emptyAllowed && raw === '') return '';
    const verdict = checkText(raw, rule);
    if (verdict.ok) return verdict.text;
    const params = verdict.problem === 'too_long' && tooLongIs ? { code: tooLongIs } : undefined;
    ctx.addIssue({ code: 'custom', message: verdict.message, ...(params ? { params } : {}) });
    return z.NEVER;
  });

/**
 * An update's text where photos may stand in for it: '' passes here and the frame's own check
 * (textOrImages) decides; anything else is held to the text rule.
 */
const textBesideImages = freeText({ name: 'text', maxChars: MAX_TEXT_CHARS }, TOO_LARGE, true);

/**
 * One photo of `images`: an `imageId` (PROTOCOL v1.1), or (extension) `{"imageId", "alt"?}` so viewers
 * get alt text. Both come out as `{imageId, alt?}`.
 */
export const imageRef = z.preprocess(
  (raw) => (typeof raw === 'string' ? { imageId: raw } : raw),
  z.strictObject({
    imageId: imageIdSchema,
    alt: freeText({ name: 'alt', oneLine: true, trim: true, maxChars: MAX_ALT_CHARS }, TOO_LARGE).optional(),
  }),
);
export type ImageRef = z.infer<typeof imageRef>;

const images = z
  .array(imageRef)
  .max(MAX_IMAGES, `an update may have at most ${MAX_IMAGES} images`)
  .refine(
    (refs) => new Set(refs.map((r) => r.imageId)).size === refs.length,
    'an image may appear only once in an update',
  );

/** Empty text only beside at least one photo (an edit without `images` keeps the entry's: live-service checks that one). */
const textOrImages = (
  frame: { text: string; images?: readonly unknown[] | undefined },
  ctx: z.core.$RefinementCtx,
  editing: boolean,
) => {
  if (frame.text !== '') return;
  if (frame.images === undefined && editing) return;
  if ((frame.images?.length ?? 0) > 0) return;
  ctx.addIssue({ code: 'custom', path: ['text'], message: 'text must not be empty' });
};
// An id, echoed in acks and errors: one line, not blank, counted in UTF-16 units as before.
/** A request's clientId: also what an error frame may echo back (functions/lib/ws.ts clientIdOf). */
export const clientId = z
  .string()
  .min(1)
  .max(MAX_CLIENT_ID_CHARS)
  .pipe(freeText({ name: 'clientId', oneLine: true }));
const seq = z.number().int().positive();

export const publishFrame = z
  .object({
    action: z.literal('publish'),
    clientId,
    text: textBesideImages,
    kind: entryKind.default('text'),
    images: images.optional(),
  })
  .superRefine((frame, ctx) => textOrImages(frame, ctx, false));
/** `images` present replaces the entry's photos (`[]` removes them); left out, they stay. */
export const editFrame = z
  .object({ action: z.literal('edit'), clientId, seq, text: textBesideImages, images: images.optional() })
  .superRefine((frame, ctx) => textOrImages(frame, ctx, true));
export const deleteFrame = z.object({ action: z.literal('delete'), clientId, seq });
export const pinFrame = z.object({ action: z.literal('pin'), clientId, seq, pinned: z.boolean() });
/**
 * `sinceChange` (an extension of v1): the highest change number the client has seen (`changeNo` on
 * delivered updates, `lastChange` on `synced`). With it the sync also re-sends the entries at or
 * below `since` that were corrected, deleted or pinned after that change — what a client that was
 * away would otherwise keep showing in its old state.
 */
/**
 * `limit` (an extension of v1): at most this many entries in the reply; `synced.next` then says where
 * to go on. Without it the reply holds every entry after `since`, as v1 says.
 */
export const MAX_SYNC_LIMIT = 500;
export const syncFrame = z.object({
  action: z.literal('sync'),
  since: z.number().int().nonnegative(),
  sinceChange: z.number().int().nonnegative().optional(),
  limit: z.number().int().min(1).max(MAX_SYNC_LIMIT).optional(),
});
export const pingFrame = z.object({ action: z.literal('ping') });
export const repostFrame = z.object({ action: z.literal('repost'), seq, clientId: clientId.optional() });

export type PublishFrame = z.infer<typeof publishFrame>;
export type EditFrame = z.infer<typeof editFrame>;
export type DeleteFrame = z.infer<typeof deleteFrame>;
export type PinFrame = z.infer<typeof pinFrame>;
export type SyncFrame = z.infer<typeof syncFrame>;
export type RepostFrame = z.infer<typeof repostFrame>;

export const CLIENT_ACTIONS = ['publish', 'edit', 'delete', 'pin', 'repost', 'sync', 'ping'] as const;

// --- server -> client ---------------------------------------------------------------------------

/** `changeNo`: the revision's place in the event's change log, on updates delivered live (not on a sync's replies). */
export type UpdateFrame = { type: 'update'; eventId: string; entry: Entry; changeNo?: number };
export type AckFrame = { type: 'ack'; clientId: string; seq: number; rev: number };
/**
 * A repost's ack: the connection's repost state for the seq (`reposted`, always true once acked)
 * and whether this request is the one that counted (false for a retry or a second click).
 */
export type RepostAckFrame = { type: 'ack'; clientId?: string; seq: number; reposted: true; counted: boolean };
/**
 * `lastChange`: every change up to it is reflected in what the sync sent (the next sync's
 * `sinceChange`). `next` (only when the sync had a `limit`): the `since` that goes on where this
 * reply stopped, or null when it reached the end; `lastSeq` stays the event's last seq.
 */
export type SyncedFrame = { type: 'synced'; lastSeq: number; lastChange?: number; next?: number | null };
/** Live counts: the viewers, and the repost totals that changed since the last stats. At most about once a second per event. */
export type StatsFrame = {
  type: 'stats';
  eventId: string;
  viewers: number;
  reposts: Record<string, number>;
  at: string;
  changeNo?: number;
};
/** A repost spike has started (Spike as PROTOCOL.md shapes it; times in epoch ms). */
export type SpikeFrame = { type: 'spike'; eventId: string; changeNo?: number } & Spike;
/** Event-wide frames that travel the change log with the updates. */
export type LiveFrame = StatsFrame | SpikeFrame;
/** `retryAfterMs` (v1.1): with `rate_limited`, when the same request may be sent again. */
export type ErrorFrame = { type: 'error'; code: ErrorCode; message: string; clientId?: string; retryAfterMs?: number };
export type PongFrame = { type: 'pong' };
export type ServerFrame =
  UpdateFrame | AckFrame | RepostAckFrame | StatsFrame | SpikeFrame | SyncedFrame | ErrorFrame | PongFrame | BatchFrame;
export type BatchFrame = { type: 'batch'; frames: ServerFrame[] };

// --- HTTP ---------------------------------------------------------------------------------------

/** GET /events/{eventId} */
export interface EventView {
  eventId: string;
  title: string;
  startsAt?: string;
  lastSeq: number;
  viewers: number;
  createdAt: string;
}

/** POST /events: the operator token is shown this once. */
export interface CreatedEvent {
  eventId: string;
  title: string;
  startsAt?: string;
  operatorToken: string;
  createdAt: string;
}

/** GET /events/{eventId}/reposts */
export interface RepostsView {
  /** Reposts per bucket of `bucket` seconds, oldest first; buckets with none are left out. */
  buckets: { t: number; count: number }[];
  spikes: Spike[];
  total: number;
}

export const createEventBody = z.object({
  // One line: it heads the live page, the browser tab and the feeds, where a line break has no place.
  title: freeText({ name: 'title', oneLine: true, trim: true, maxChars: MAX_TITLE_CHARS }),
  startsAt: z.iso.datetime({ offset: true }).optional(),
});
export type CreateEventBody = z.infer<typeof createEventBody>;

export const timelineQuery = z.object({
  after: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** GET /events (organiser): `after` is the previous page's opaque `next`. */
export const MAX_EVENTS_PAGE = 100;
export const listEventsQuery = z.object({
  after: z.string().min(1, 'after: empty cursor').optional(),
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_PAGE).default(20),
});

/** One event in GET /events. */
export interface EventSummary {
  eventId: string;
  title: string;
  createdAt: string;
  /** When the event is announced to start (extension: set at create, absent if none was given). */
  startsAt?: string;
  lastSeq: number;
  viewers: number;
}

/** `after` is a change number here (the revisions' `next`), not a seq. */
export const revisionsQuery = timelineQuery;

export const repostsQuery = z.object({
  bucket: z.coerce
    .number()
    .refine((n) => n === 1 || n === 10 || n === 60, 'bucket must be 1, 10 or 60 (seconds)')
    .default(10),
});

export const eventIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a valid event id');

/** Whether a zod issue is one of ours that means `too_large`. */
export const isTooLargeIssue = (issue: z.core.$ZodIssue): boolean =>
  issue.code === 'custom' && (issue as { params?: { code?: string } }).params?.code === TOO_LARGE;
