// Links to one entry of the live page, `/live/{eventId}#entry-{seq}` (PROTOCOL.md v1.1 Pages), and
// sharing them: the phone's share sheet where the browser has one, else the clipboard.
export { entryUrl } from '../../shared/domain/live-blog';

/** The entry a fragment names (`#entry-12` → 12), or undefined for any other fragment. */
export function seqFromHash(hash: string): number | undefined {
  const m = /^#entry-([1-9]\d{0,15})$/.exec(hash);
  return m ? Number(m[1]) : undefined;
}

export type Shared = 'shared' | 'copied' | 'cancelled' | 'failed';

/** The parts of `navigator` sharing uses (a parameter, so the choice between them is plain to test). */
export interface ShareNavigator {
  share?: (data: ShareData) => Promise<void>;
  clipboard?: { writeText(text: string): Promise<void> };
}

/**
 * Shares `url` with the share sheet when there is one (phones; `share` only exists in secure
 * contexts), else copies it. The reader closing the sheet is `cancelled`, not a failure; a sheet
 * that fails otherwise (no user activation left, a blocked permission) falls back to the clipboard.
 */
export async function shareLink(nav: ShareNavigator, url: string, title: string): Promise<Shared> {
  if (typeof nav.share === 'function') {
    try {
      await nav.share({ url, title });
      return 'shared';
    } catch (err) {
      if (err instanceof Error && err.name === 'AbortError') return 'cancelled';
    }
  }
  try {
    if (!nav.clipboard) return 'failed';
    await nav.clipboard.writeText(url);
    return 'copied';
  } catch {
    return 'failed';
  }
}
