// Where the console keeps a queued update's photos until they are stored: IndexedDB, because
// localStorage holds only strings (about 5 MB, and a 400 KB photo as base64 is 530 KB) and the
// outbox must survive a reload with its photos, as it does with its text.
export interface BlobStore {
  put(id: string, blob: Blob): Promise<void>;
  get(id: string): Promise<Blob | undefined>;
  delete(id: string): Promise<void>;
  keys(): Promise<string[]>;
}

const STORE = 'photos';

/** One database per event (`livecast.photos.<eventId>`), one object store of blobs by local id. */
export class IndexedDbBlobStore implements BlobStore {
  private db: Promise<IDBDatabase> | undefined;

  constructor(private readonly name: string) {}

  put(id: string, blob: Blob): Promise<void> {
    return this.run('readwrite', (s) => s.put(blob, id)).then(() => undefined);
  }

  get(id: string): Promise<Blob | undefined> {
    return this.run('readonly', (s) => s.get(id)).then((v) => (v instanceof Blob ? v : undefined));
  }

  delete(id: string): Promise<void> {
    return this.run('readwrite', (s) => s.delete(id)).then(() => undefined);
  }

  keys(): Promise<string[]> {
    return this.run('readonly', (s) => s.getAllKeys()).then((keys) => keys.map(String));
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB unavailable'));
    });
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = op(tx.objectStore(STORE));
      // Resolved when the transaction commits: a photo reported stored is on disk before the update is queued.
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB error'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }
}
