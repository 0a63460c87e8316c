// Per-entry links and sharing (issue 15): which fragments name an entry, and share sheet vs clipboard.
import { describe, expect, it } from 'vitest';
import { entryUrl, seqFromHash, shareLink, type ShareNavigator } from '../../web/lib/entry-link';

describe('entry links', () => {
  it('reads #entry-{seq} and nothing else', () => {
    expect(seqFromHash('#entry-12')).toBe(12);
    expect(seqFromHash('#entry-1')).toBe(1);
    for (const bad of [
      '',
      '#',
      '#entry-',
      '#entry-0',
      '#entry-01',
      '#entry-1.5',
      '#entry-12x',
      '#token=abc',
      '#entry--3',
      '#entry-12345678901234567',
    ]) {
      expect(seqFromHash(bad), bad).toBeUndefined();
    }
  });

  it('links to the canonical live url with the fragment', () => {
    expect(entryUrl('https://live.example.com', 'ev 1', 7)).toBe('https://live.example.com/live/ev%201#entry-7');
  });
});

describe('shareLink', () => {
  const clipboard = () => {
    const written: string[] = [];
    return { written, clipboard: { writeText: async (t: string) => void written.push(t) } };
  };

  it('uses the share sheet where there is one, and does not also copy', async () => {
    const shared: ShareData[] = [];
    const c = clipboard();
    const nav: ShareNavigator = { share: async (d) => void shared.push(d), clipboard: c.clipboard };
    expect(await shareLink(nav, 'https://x/live/e#entry-2', 'Title')).toBe('shared');
    expect(shared).toEqual([{ url: 'https://x/live/e#entry-2', title: 'Title' }]);
    expect(c.written).toEqual([]);
  });

  it('copies where there is no share sheet', async () => {
    const c = clipboard();
    expect(await shareLink({ clipboard: c.clipboard }, 'https://x/live/e#entry-2', 'T')).toBe('copied');
    expect(c.written).toEqual(['https://x/live/e#entry-2']);
  });

  it('a closed sheet is cancelled (nothing copied); a sheet that fails otherwise falls back to copying', async () => {
    const c = clipboard();
    const abort = Object.assign(new Error('closed'), { name: 'AbortError' });
    expect(await shareLink({ share: async () => Promise.reject(abort), clipboard: c.clipboard }, 'u', 't')).toBe(
      'cancelled',
    );
    expect(c.written).toEqual([]);
    const denied = Object.assign(new Error('no activation'), { name: 'NotAllowedError' });
    expect(await shareLink({ share: async () => Promise.reject(denied), clipboard: c.clipboard }, 'u', 't')).toBe(
      'copied',
    );
    expect(c.written).toEqual(['u']);
  });

  it('fails, rather than claiming a copy, when neither works', async () => {
    expect(await shareLink({}, 'u', 't')).toBe('failed');
    expect(
      await shareLink({ clipboard: { writeText: async () => Promise.reject(new Error('denied')) } }, 'u', 't'),
    ).toBe('failed');
  });
});
