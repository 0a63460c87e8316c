// The page's anonymous viewer id: asked for once and kept (localStorage), shown to the server on each
// page load (POST /viewers answers the same id while it is good, a new one when it is not), and sent
// on the handshake (`&viewer=`), so a repost counts once per viewer however often the page reconnects.
import type { PageConfig } from './config';

const STORAGE_KEY = 'livecast.viewerId';

/** The id the server confirmed or issued during this page load; none: connect without (counted per address). */
let confirmed: string | undefined;

function stored(): string | undefined {
  try {
    return localStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined; // storage blocked: a new id each load, still one per page
  }
}

/**
 * Asks the server once, giving up after `timeoutMs`. Never throws: without an answer (offline, the
 * address's allowance spent) the page connects without an id, as a v1 client would; an id the
 * server did not confirm is never sent, since a bad one would refuse every handshake.
 */
export async function ensureViewerId(config: PageConfig, timeoutMs = 3_000): Promise<string | undefined> {
  const held = stored();
  try {
    const res = await fetch(`${config.apiUrl}/viewers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(held ? { viewerId: held } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json().catch(() => undefined)) as { viewerId?: unknown } | undefined;
    if (res.ok && typeof body?.viewerId === 'string') {
      confirmed = body.viewerId;
      try {
        localStorage.setItem(STORAGE_KEY, confirmed);
      } catch {
        // kept for this page load only
      }
    }
  } catch {
    // no answer: connect without an id
  }
  return confirmed;
}

/** The socket URL with the viewer id, when this page load has one. */
export function withViewerId(url: string): string {
  if (!confirmed) return url;
  const u = new URL(url);
  u.searchParams.set('viewer', confirmed);
  return u.toString();
}
