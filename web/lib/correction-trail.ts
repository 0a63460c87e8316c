// A corrected entry's earlier versions, from `GET /events/{id}/revisions` (the event's change log,
// every publish, edit, delete and pin in order, paged). Read only when a reader asks: the log is
// the whole event's, and an entry's trail is the few lines of it with its seq.
import type { Entry, Revision } from '../../shared/domain/protocol';

export interface RevisionsPage {
  items: Revision[];
  next: number | null;
}

/** The largest page the API gives (`limit` 1..500): the fewest requests. */
export const REVISIONS_PAGE_LIMIT = 500;

/**
 * The revisions of entry `seq` up to and including `rev` (the one shown), in order. Pages are read
 * from the start of the log following `next`, and reading stops at the page that holds `rev`: an
 * entry's revisions lie between its publish and its latest change, so nothing after that is read.
 */
export async function readEntryRevisions(
  getPage: (after: number, limit: number) => Promise<RevisionsPage>,
  seq: number,
  rev: number,
): Promise<Entry[]> {
  const found: Entry[] = [];
  for (let after: number | null = 0; after !== null;) {
    const page = await getPage(after, REVISIONS_PAGE_LIMIT);
    for (const { entry } of page.items) if (entry.seq === seq && entry.rev <= rev) found.push(entry);
    if (found.some((e) => e.rev === rev)) break;
    // A page that does not move on would be asked for forever.
    if (page.next !== null && page.next <= after)
      throw new Error(`the revisions' next (${page.next}) does not move past ${after}`);
    after = page.next;
  }
  return found.sort((a, b) => a.rev - b.rev);
}

/** One earlier wording of an entry: its text and photos, and when it was written. */
export interface Version {
  rev: number;
  text: string;
  images: Entry['images'];
  /** When this wording was published or written (the revision's `updatedAt`). */
  at: string;
}

const sameContent = (a: Pick<Entry, 'text' | 'images'>, b: Pick<Entry, 'text' | 'images'>) =>
  a.text === b.text && JSON.stringify(a.images ?? []) === JSON.stringify(b.images ?? []);

/**
 * The versions before the one shown, newest first: each revision whose text or photos differ from
 * the one before it (a pin changes `rev` but not the wording, and is no version), the current
 * wording left out. Revisions of a deleted entry carry no text and give none.
 */
export function earlierVersions(revisions: readonly Entry[], current: Pick<Entry, 'text' | 'images'>): Version[] {
  const versions: Version[] = [];
  for (const r of revisions) {
    if (r.deleted) continue;
    const last = versions[versions.length - 1];
    if (last && sameContent(last, r)) continue;
    versions.push({ rev: r.rev, text: r.text, images: r.images ?? [], at: r.updatedAt });
  }
  const last = versions[versions.length - 1];
  if (last && sameContent(last, current)) versions.pop();
  return versions.reverse();
}
