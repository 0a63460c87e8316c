// The wire types the pages use, from the backend's own definitions (types only: nothing of the backend is bundled).
export type {
  AckFrame,
  CreatedEvent,
  Entry,
  ErrorFrame,
  EventSummary,
  EventView,
  RepostsView,
  Revision,
  ServerFrame,
  SpikeFrame,
  StatsFrame,
} from '../../shared/domain/protocol';

import type { Entry } from '../../shared/domain/protocol';

/** One photo of an entry (PROTOCOL.md v1.1): `url` absolute or relative to the HTTP API's origin. */
export interface EntryImage {
  url: string;
  width: number;
  height: number;
  alt?: string;
}

/** An entry's photos in display order: `[]` for entries from before v1.1, which have no `images`. */
export function imagesOf(entry: Omit<Entry, 'reposts'>): EntryImage[] {
  const images = (entry as { images?: unknown }).images;
  return Array.isArray(images) ? (images as EntryImage[]) : [];
}
