// The outbox with photos: an update is published only once every photo is in storage, each photo
// is uploaded once (its imageId is kept through failures and reloads), the publish keeps its
// clientId, failed uploads back off with jitter, a 429 waits, and the bytes leave the device once
// published or discarded. Storage and the uploader are fakes here; the browser tests use the real ones.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbox, type KeyValueStore, type OutboxPhoto } from '../../web/lib/outbox';
import type { BlobStore } from '../../web/lib/photo-store';
import { UploadError } from '../../web/lib/uploader';

class MemoryStorage implements KeyValueStore {
  readonly map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
}

class MemoryBlobs implements BlobStore {
  readonly map = new Map<string, Blob>();
  async put(id: string, blob: Blob) {
    this.map.set(id, blob);
  }
  async get(id: string) {
    return this.map.get(id);
  }
  async delete(id: string) {
    this.map.delete(id);
  }
  async keys() {
    return [...this.map.keys()];
  }
}

/** An uploader whose answers the test decides, one upload at a time. */
class FakeStorage {
  readonly uploads: {
    bytes: string;
    contentType: string;
    progress: (f: number) => void;
    resolve: (imageId: string) => void;
    reject: (e: unknown) => void;
  }[] = [];
  /** imageIds handed out, by the bytes they stored. */
  readonly stored: string[] = [];
  private n = 0;
  upload = (blob: Blob, contentType: string, progress: (f: number) => void) =>
    blob.text().then(
      (bytes) =>
        new Promise<string>((resolve, reject) => {
          this.uploads.push({
            bytes,
            contentType,
            progress,
            resolve: (id) => (this.stored.push(bytes), resolve(id)),
            reject,
          });
        }),
    );
  /** Answers the latest upload with a new imageId. */
  succeed(): string {
    const id = `img-${++this.n}`;
    this.uploads.at(-1)!.resolve(id);
    return id;
  }
  fail(e: UploadError): void {
    this.uploads.at(-1)!.reject(e);
  }
}

const offline = () => new UploadError('internal', 'the upload did not reach storage', true, undefined, true);
const flush = () => vi.advanceTimersByTimeAsync(0);

function harness(storage = new MemoryStorage(), blobs = new MemoryBlobs(), store = new FakeStorage()) {
  const sent: Record<string, unknown>[] = [];
  let open = true;
  const outbox = new Outbox({
    key: 'k',
    storage,
    send: (f) => {
      if (!open) return false;
      sent.push(f as Record<string, unknown>);
      return true;
    },
    now: () => Date.now(),
    random: () => 1,
    photos: { store: blobs, upload: store.upload },
  });
  return { outbox, sent, storage, blobs, store, setOpen: (o: boolean) => (open = o) };
}

async function photos(blobs: MemoryBlobs, ...names: string[]): Promise<OutboxPhoto[]> {
  for (const n of names) await blobs.put(n, new Blob([`bytes of ${n}`], { type: 'image/webp' }));
  return names.map((n) => ({
    localId: n,
    contentType: 'image/webp',
    width: 1600,
    height: 1200,
    ...(n === 'p1' ? { alt: 'the stage' } : {}),
  }));
}

describe('Outbox with photos', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('publishes only once every photo is stored, naming them in order with their alt text, then lets the bytes go', async () => {
    const { outbox, sent, blobs, store } = harness();
    const item = outbox.add({ action: 'publish', text: '', kind: 'key', photos: await photos(blobs, 'p1', 'p2') });
    await flush();
    expect(item.state).toBe('uploading');
    expect(store.uploads.map((u) => u.bytes)).toEqual(['bytes of p1']);
    store.uploads[0]!.progress(0.5);
    expect(outbox.progressOf(item.clientId)).toEqual([0.5, 0]);
    const first = store.succeed();
    await flush();
    expect(sent).toHaveLength(0); // one photo still on its way
    expect(outbox.progressOf(item.clientId)).toEqual([1, 0]);
    const second = store.succeed();
    await flush();
    expect(sent).toEqual([
      {
        action: 'publish',
        text: '',
        kind: 'key',
        images: [{ imageId: first, alt: 'the stage' }, { imageId: second }],
        clientId: item.clientId,
      },
    ]);
    expect(item.state).toBe('sending');
    outbox.receive({ type: 'ack', clientId: item.clientId, seq: 1, rev: 1 });
    await flush();
    expect(blobs.map.size).toBe(0);
  });

  it('holds the updates typed after it, so seqs follow the order typed', async () => {
    const { outbox, sent, blobs, store } = harness();
    const a = outbox.add({ action: 'publish', text: 'photo', kind: 'text', photos: await photos(blobs, 'p1') });
    const b = outbox.add({ action: 'publish', text: 'text after it', kind: 'text' });
    await flush();
    expect(sent).toHaveLength(0);
    store.succeed();
    await flush();
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId]);
    outbox.receive({ type: 'ack', clientId: a.clientId, seq: 1, rev: 1 });
    expect(sent.map((f) => f.clientId)).toEqual([a.clientId, b.clientId]);
  });

  it('after a failed upload retries with a growing backoff, never uploading a stored photo again', async () => {
    const { outbox, sent, blobs, store } = harness();
    const item = outbox.add({
      action: 'publish',
      text: 'two photos',
      kind: 'text',
      photos: await photos(blobs, 'p1', 'p2'),
    });
    await flush();
    const first = store.succeed();
    await flush();
    store.fail(offline());
    await flush();
    expect(item).toMatchObject({ state: 'waiting', uploadAttempts: 1 });
    await vi.advanceTimersByTimeAsync(999);
    expect(store.uploads).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.uploads.map((u) => u.bytes)).toEqual(['bytes of p1', 'bytes of p2', 'bytes of p2']);
    store.fail(offline());
    await vi.advanceTimersByTimeAsync(1_999); // the second wait is longer
    expect(store.uploads).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    const second = store.succeed();
    await flush();
    expect(sent).toEqual([
      expect.objectContaining({
        clientId: item.clientId,
        images: [{ imageId: first, alt: 'the stage' }, { imageId: second }],
      }),
    ]);
    expect(store.stored).toEqual(['bytes of p1', 'bytes of p2']);
  });

  it('tries an upload that found no network again as soon as the network is back', async () => {
    const { outbox, blobs, store } = harness();
    outbox.add({ action: 'publish', text: 'x', kind: 'text', photos: await photos(blobs, 'p1') });
    await flush();
    for (let i = 0; i < 5; i++) {
      store.fail(offline());
      await vi.advanceTimersByTimeAsync(60_000);
    }
    store.fail(offline()); // the next try is up to 30 s away
    await flush();
    const before = store.uploads.length;
    outbox.wake();
    await flush();
    expect(store.uploads.length).toBe(before + 1);
  });

  it('waits as long as a 429 asks before uploading again', async () => {
    const { outbox, blobs, store } = harness();
    outbox.add({ action: 'publish', text: 'x', kind: 'text', photos: await photos(blobs, 'p1') });
    await flush();
    store.fail(new UploadError('rate_limited', 'too many uploads', true, 20_000));
    await flush();
    outbox.wake(); // not a network failure: the wait stands
    await vi.advanceTimersByTimeAsync(19_900);
    expect(store.uploads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(store.uploads).toHaveLength(2);
  });

  it("keeps a stored photo's imageId across a reload: only the rest is uploaded, and the publish keeps its clientId", async () => {
    const storage = new MemoryStorage();
    const blobs = new MemoryBlobs();
    const first = harness(storage, blobs);
    const item = first.outbox.add({
      action: 'publish',
      text: 'reloaded',
      kind: 'text',
      photos: await photos(blobs, 'p1', 'p2'),
    });
    await flush();
    const id1 = first.store.succeed();
    await flush(); // the page goes away while p2 is uploading

    const second = harness(storage, blobs);
    expect(second.outbox.list()[0]).toMatchObject({ clientId: item.clientId, state: 'waiting' });
    second.outbox.connected();
    await flush();
    expect(second.store.uploads.map((u) => u.bytes)).toEqual(['bytes of p2']);
    const id2 = second.store.succeed();
    await flush();
    expect(second.sent).toEqual([
      expect.objectContaining({
        clientId: item.clientId,
        images: [{ imageId: id1, alt: 'the stage' }, { imageId: id2 }],
      }),
    ]);
  });

  it('waits for the connection once its photos are stored, then sends', async () => {
    const { outbox, sent, blobs, store, setOpen } = harness();
    setOpen(false);
    const item = outbox.add({ action: 'publish', text: 'x', kind: 'text', photos: await photos(blobs, 'p1') });
    await flush();
    store.succeed();
    await flush();
    expect(sent).toHaveLength(0);
    expect(item.state).toBe('waiting');
    setOpen(true);
    outbox.connected();
    expect(sent).toHaveLength(1);
    expect(store.uploads).toHaveLength(1);
  });

  it('fails on a refusal storage will repeat, and on photo bytes gone from the device; discard lets the bytes go', async () => {
    const { outbox, sent, blobs, store } = harness();
    const a = outbox.add({ action: 'publish', text: 'too big', kind: 'text', photos: await photos(blobs, 'p1') });
    await flush();
    store.fail(new UploadError('bad_request', 'Your proposed upload exceeds the maximum allowed size', false));
    await flush();
    expect(a).toMatchObject({
      state: 'failed',
      error: { code: 'bad_request', message: 'Your proposed upload exceeds the maximum allowed size' },
    });
    outbox.discard(a.clientId);
    await flush();
    expect(blobs.map.has('p1')).toBe(false);

    const b = outbox.add({
      action: 'publish',
      text: 'lost',
      kind: 'text',
      photos: [{ localId: 'gone', contentType: 'image/jpeg', width: 1, height: 1 }],
    });
    await flush();
    expect(b).toMatchObject({ state: 'failed', photoLost: true });
    expect(sent).toHaveLength(0);
  });

  it('sweeps photo bytes that no queued update refers to', async () => {
    const { outbox, blobs } = harness();
    outbox.add({ action: 'publish', text: 'x', kind: 'text', photos: await photos(blobs, 'p1') });
    await blobs.put('orphan', new Blob(['left by a reload']));
    await outbox.sweepPhotos();
    expect([...blobs.map.keys()]).toEqual(['p1']);
  });
});
