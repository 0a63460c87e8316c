// The reporter's outbox: every request gets its clientId once and keeps it through reconnects and
// reloads (it is saved in localStorage), so a re-send after a drop is the same request — the server
// answers a repeated clientId with the first outcome and never stores it twice. One request is in
// flight at a time, so updates get their seqs in the order they were typed.
//
// An update with photos is published only once every photo is in storage: its photos' bytes wait
// in a BlobStore (IndexedDB), each photo's imageId is saved the moment storage has it (so a reload
// or a drop never uploads it twice), and the publish then goes as any other request, with the same
// clientId however often it is re-sent.
import type { AckFrame, ErrorCode, ErrorFrame } from '../../shared/domain/protocol';
import type { BlobStore } from './photo-store';
import type { PhotoType } from './photos';
import { UploadError, type UploadPhoto } from './uploader';

/** A photo of a queued update. */
export interface OutboxPhoto {
  /** Its key in the BlobStore, where the shrunk bytes wait until storage has them. */
  localId: string;
  contentType: PhotoType;
  width: number;
  height: number;
  alt?: string;
  /** Set once storage holds it: from then on it is never uploaded again. */
  imageId?: string;
}

export type OutboxRequest =
  | { action: 'publish'; text: string; kind: 'text' | 'key'; photos?: OutboxPhoto[] }
  | { action: 'edit'; seq: number; text: string }
  | { action: 'delete'; seq: number }
  | { action: 'pin'; seq: number; pinned: boolean };

export type OutboxState = 'waiting' | 'uploading' | 'sending' | 'acked' | 'failed';

export interface OutboxItem {
  clientId: string;
  request: OutboxRequest;
  state: OutboxState;
  createdAt: number;
  /** When the request was last handed to the socket. */
  sentAt?: number;
  /** Times it was handed to a socket. */
  sends: number;
  /** Acked: hand-over → ack, for the last send. */
  rttMs?: number;
  seq?: number;
  rev?: number;
  error?: { code: ErrorCode; message: string };
  /** After a transient refusal: not sent again before this time. */
  notBefore?: number;
  /** Failed photo uploads in a row (the backoff grows with them). */
  uploadAttempts?: number;
  /** The last upload got no answer at all: tried again as soon as the network is back. */
  uploadOffline?: boolean;
  /** A photo's bytes are gone from this device (storage cleared): it cannot be published as queued. */
  photoLost?: boolean;
}

/** The part of localStorage the outbox uses. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface OutboxOptions {
  /** Where the outbox is kept across reloads, e.g. `livecast.outbox.<eventId>`. */
  key: string;
  storage?: KeyValueStore;
  /** Hands a frame to the socket; false when it is not open (the item waits). */
  send: (frame: object) => boolean;
  onChange?: () => void;
  now?: () => number;
  /** No ack within this long: send the same request again (safe: same clientId). @default 10 s */
  ackTimeoutMs?: number;
  /** Acked items kept for display. @default 50 */
  keepAcked?: number;
  /** Jitter for the waits after a refusal. @default Math.random */
  random?: () => number;
  /** Where queued photos wait, and how one is uploaded. Without it, an update with photos fails. */
  photos?: { store: BlobStore; upload: UploadPhoto };
}

/**
 * How long a refused request waits before it goes again: exponential in the times it was sent, with
 * full jitter (a crowd of consoles refused together does not come back together), never sooner than
 * the server's `retryAfterMs`. 1 s, 2 s, 4 s … up to 30 s.
 */
export function retryDelayMs(
  sends: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(30_000, 1_000 * 2 ** Math.max(0, sends - 1));
  return Math.max(retryAfterMs ?? 0, Math.round(ceiling * (0.5 + random() / 2)));
}

/** Error codes after which the same request may succeed later: it waits and goes again. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['rate_limited', 'internal']);

export class Outbox {
  private items: OutboxItem[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  /** Upload progress of the photos on their way, by clientId. */
  private readonly progress = new Map<string, number[]>();

  constructor(private readonly opts: OutboxOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const saved = opts.storage?.getItem(opts.key);
    if (saved) {
      try {
        // A request that was on its way when the page went away may or may not have arrived: send it again.
        this.items = (JSON.parse(saved) as OutboxItem[]).map((i) =>
          i.state === 'sending' || i.state === 'uploading' ? { ...i, state: 'waiting' } : i,
        );
      } catch {
        this.items = [];
      }
    }
  }

  /** Oldest first. */
  list(): readonly OutboxItem[] {
    return this.items;
  }

  get pending(): number {
    return this.items.filter((i) => i.state === 'waiting' || i.state === 'uploading' || i.state === 'sending').length;
  }

  /** Each photo's upload progress, 0..1, in order (1 once stored). */
  progressOf(clientId: string): number[] {
    const item = this.items.find((i) => i.clientId === clientId);
    const photos = item?.request.action === 'publish' ? (item.request.photos ?? []) : [];
    const live = this.progress.get(clientId) ?? [];
    return photos.map((p, n) => (p.imageId ? 1 : (live[n] ?? 0)));
  }

  /** The network is back: an upload that failed for want of it goes again now, not after its backoff. */
  wake(): void {
    for (const i of this.items) {
      if (i.state === 'waiting' && i.uploadOffline) delete i.notBefore;
    }
    this.pump();
  }

  /** Deletes stored photo bytes that no queued update refers to (left by a reload between storing and queueing). */
  async sweepPhotos(): Promise<void> {
    const store = this.opts.photos?.store;
    if (!store) return;
    const keys = await store.keys();
    const used = new Set(
      this.items.filter((i) => i.state !== 'acked').flatMap((i) => photosOf(i).map((p) => p.localId)),
    );
    await Promise.all(keys.filter((k) => !used.has(k)).map((k) => store.delete(k)));
  }

  add(request: OutboxRequest): OutboxItem {
    const item: OutboxItem = { clientId: newClientId(), request, state: 'waiting', createdAt: this.now(), sends: 0 };
    this.items.push(item);
    this.changed();
    this.pump();
    return item;
  }

  /** A new socket is open: whatever was in flight on the old one goes again. */
  connected(): void {
    for (const i of this.items) if (i.state === 'sending') i.state = 'waiting';
    this.changed();
    this.wake();
  }

  /** Feed every ack and error frame here; returns the item it settled, if it was ours. */
  receive(frame: AckFrame | ErrorFrame): OutboxItem | undefined {
    const item = frame.clientId === undefined ? undefined : this.items.find((i) => i.clientId === frame.clientId);
    if (!item || item.state === 'acked') return undefined;
    if (frame.type === 'ack') {
      item.state = 'acked';
      item.seq = frame.seq;
      item.rev = frame.rev;
      delete item.error;
      if (item.sentAt !== undefined) item.rttMs = Math.round(this.now() - item.sentAt);
      this.forgetPhotos(item);
    } else if (TRANSIENT.has(frame.code)) {
      item.state = 'waiting';
      item.error = { code: frame.code, message: frame.message };
      item.notBefore = this.now() + retryDelayMs(item.sends, frame.retryAfterMs, this.random);
    } else {
      item.state = 'failed';
      item.error = { code: frame.code, message: frame.message };
    }
    this.trim();
    this.changed();
    this.pump();
    return item;
  }

  /** A failed request tried again, as the same request. */
  retry(clientId: string): void {
    const item = this.items.find((i) => i.clientId === clientId && i.state === 'failed');
    if (!item) return;
    item.state = 'waiting';
    this.changed();
    this.pump();
  }

  discard(clientId: string): void {
    const item = this.items.find((i) => i.clientId === clientId && i.state === 'failed');
    if (!item) return;
    this.items = this.items.filter((i) => i !== item);
    this.forgetPhotos(item);
    this.changed();
  }

  /** Sends the oldest waiting request if nothing is in flight. */
  pump(): void {
    if (this.items.some((i) => i.state === 'sending' || i.state === 'uploading')) return;
    const next = this.items.find((i) => i.state === 'waiting');
    if (!next) return;
    // In order: a request told to wait holds back the ones behind it.
    const wait = (next.notBefore ?? 0) - this.now();
    if (wait > 0) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    if (photosOf(next).some((p) => p.imageId === undefined)) {
      void this.upload(next);
      return;
    }
    if (!this.opts.send(frameOf(next))) return; // not open: connected() pumps again
    next.state = 'sending';
    next.sentAt = this.now();
    next.sends++;
    this.changed();
    const clientId = next.clientId;
    const sends = next.sends;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // Still unanswered on the same send: the frame or its ack was lost on the way; ask again.
      const it = this.items.find((i) => i.clientId === clientId);
      if (it?.state === 'sending' && it.sends === sends) {
        it.state = 'waiting';
        this.pump();
      }
    }, this.opts.ackTimeoutMs ?? 10_000);
  }

  /** Uploads the item's photos not yet stored, one at a time, saving each imageId as it comes. */
  private async upload(item: OutboxItem): Promise<void> {
    item.state = 'uploading';
    this.changed();
    try {
      const photos = this.opts.photos;
      if (!photos) throw new UploadError('bad_request', 'this page cannot upload photos', false);
      for (const [n, photo] of photosOf(item).entries()) {
        if (photo.imageId !== undefined) continue;
        const blob = await photos.store.get(photo.localId);
        if (!blob) {
          item.photoLost = true;
          throw new UploadError('not_found', 'a photo of this update is no longer on this device', false);
        }
        photo.imageId = await photos.upload(blob, photo.contentType, (fraction) => {
          const live = this.progress.get(item.clientId) ?? [];
          live[n] = fraction;
          this.progress.set(item.clientId, live);
          this.opts.onChange?.(); // not saved: progress is for the eye only
        });
        this.changed(); // saved at once: this photo is never uploaded again
      }
      item.state = 'waiting';
      delete item.error;
      delete item.uploadAttempts;
      delete item.uploadOffline;
      delete item.notBefore;
    } catch (err) {
      const e =
        err instanceof UploadError
          ? err
          : new UploadError('internal', err instanceof Error ? err.message : String(err), false);
      item.uploadAttempts = (item.uploadAttempts ?? 0) + 1;
      item.error = { code: e.code, message: e.message };
      if (e.transient) {
        item.state = 'waiting';
        item.uploadOffline = e.network;
        item.notBefore = this.now() + retryDelayMs(item.uploadAttempts, e.retryAfterMs, this.random);
      } else {
        item.state = 'failed';
      }
    }
    this.progress.delete(item.clientId);
    this.changed();
    this.pump();
  }

  /** The item's photos are published or given up: their bytes leave this device. */
  private forgetPhotos(item: OutboxItem): void {
    const store = this.opts.photos?.store;
    for (const p of photosOf(item)) void store?.delete(p.localId).catch(() => undefined);
  }

  private trim(): void {
    const keep = this.opts.keepAcked ?? 50;
    const acked = this.items.filter((i) => i.state === 'acked');
    if (acked.length <= keep) return;
    const drop = new Set(acked.slice(0, acked.length - keep));
    this.items = this.items.filter((i) => !drop.has(i));
  }

  private changed(): void {
    try {
      this.opts.storage?.setItem(this.opts.key, JSON.stringify(this.items));
    } catch {
      // A full or disabled storage only loses the reload safety, not the session's queue.
    }
    this.opts.onChange?.();
  }
}

function photosOf(item: OutboxItem): OutboxPhoto[] {
  return item.request.action === 'publish' ? (item.request.photos ?? []) : [];
}

/** The frame a request goes as: a publish names its stored photos by imageId (and alt text), in order. */
function frameOf(item: OutboxItem): object {
  if (item.request.action !== 'publish' || !item.request.photos?.length)
    return { ...item.request, clientId: item.clientId };
  const { photos, ...rest } = item.request;
  const images = photos.map((p) => (p.alt ? { imageId: p.imageId, alt: p.alt } : { imageId: p.imageId }));
  return { ...rest, images, clientId: item.clientId };
}

/** Unique per request: time, then randomness (crypto where the page has it). */
export function newClientId(): string {
  const rand =
    globalThis.crypto?.randomUUID?.().replace(/-/g, '').slice(0, 12) ?? Math.random().toString(36).slice(2, 14);
  return `r-${Date.now().toString(36)}-${rand}`;
}
