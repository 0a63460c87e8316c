// Formatting shared by the pages: times, counts, and the event id in the path.

/** `/live/{eventId}` → eventId (decoded), or undefined. */
export function eventIdFromPath(pathname: string): string | undefined {
  const parts = pathname.split('/').filter(Boolean);
  const id = parts[1];
  if (!id) return undefined;
  try {
    return decodeURIComponent(id);
  } catch {
    return undefined; // a malformed %-escape: no event id rather than a blank page
  }
}

// Times and counts in the page's locale (Intl).
export { clock, count, day } from './intl';

/** `h:mm:ss` of a duration in ms. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return `${hh > 0 ? `${hh}:` : ''}${hh > 0 ? String(mm).padStart(2, '0') : mm}:${String(ss).padStart(2, '0')}`;
}
