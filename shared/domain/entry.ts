// The Entry's own rules: how it is born and how each correction changes it. Every change bumps rev.
import { badRequest, conflict } from './errors';
import type { Entry, EntryImage, EntryKind } from './protocol';

export function newEntry(
  seq: number,
  draft: { kind: EntryKind; text: string; images?: EntryImage[] },
  now: Date,
): Entry {
  const at = now.toISOString();
  const images = draft.images ?? [];
  return {
    seq,
    rev: 1,
    kind: draft.kind,
    text: draft.text,
    pinned: false,
    deleted: false,
    createdAt: at,
    updatedAt: at,
    reposts: 0,
    images,
  };
}

function changed(
  entry: Entry,
  now: Date,
  patch: Partial<Pick<Entry, 'text' | 'pinned' | 'deleted' | 'redacted' | 'images'>>,
): Entry {
  return { ...entry, ...patch, rev: entry.rev + 1, updatedAt: now.toISOString() };
}

function refuseIfDeleted(entry: Entry, what: string): void {
  if (entry.deleted) throw conflict(`entry ${entry.seq} is deleted and cannot be ${what}`);
}

/** `images` replaces the entry's photos; left out, they stay. Either text or photos must remain. */
export function editEntry(entry: Entry, text: string, now: Date, images?: EntryImage[]): Entry {
  refuseIfDeleted(entry, 'edited');
  const after = images ?? entry.images;
  if (text === '' && after.length === 0)
    throw badRequest('text must not be empty (an update without images needs 1 to 2000 characters)');
  return changed(entry, now, { text, images: after });
}

/** A deleted entry keeps its seq, loses its text and photos, and leaves the pinned slot. */
export function deleteEntry(entry: Entry, now: Date): Entry {
  refuseIfDeleted(entry, 'deleted again');
  return changed(entry, now, { text: '', images: [], deleted: true, pinned: false });
}

export function pinEntry(entry: Entry, pinned: boolean, now: Date): Entry {
  refuseIfDeleted(entry, pinned ? 'pinned' : 'unpinned');
  return changed(entry, now, { pinned });
}

/**
 * The organiser's redaction: deleted as by the reporter (no text or photos, out of the pinned slot) and marked
 * `redacted`, so the export tells a removal on purpose from a reporter's delete. Allowed on an
 * entry already deleted: its history still holds the text.
 */
export function redactEntry(entry: Entry, now: Date): Entry {
  return changed(entry, now, { text: '', images: [], deleted: true, pinned: false, redacted: true });
}
