// The catalogues and the choice of language, in Node (no DOM needed for either).
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../shared/domain/protocol';
import { pickLocale } from '../../web/lib/i18n';
import { setFormatLocale } from '../../web/lib/intl';
import { en } from '../../web/lib/messages/en';
import { zhCN } from '../../web/lib/messages/zh-cn';

/** Every string a catalogue can produce, each function called with sample arguments. */
function allTexts(catalogue: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(catalogue)) {
    if (typeof value === 'string') out.push(value);
    else if (key === 'refusal')
      for (const code of ERROR_CODES)
        out.push(String((value as (c: string, m: string) => string)(code, 'server says')));
    else if (typeof value === 'function') {
      const parts = (value as (...a: unknown[]) => unknown)(...Array.from({ length: value.length }, () => 2));
      // A Node argument (data) comes back as itself: only the strings are the catalogue's.
      out.push(...(Array.isArray(parts) ? parts : [parts]).filter((p): p is string => typeof p === 'string'));
    } else if (value && typeof value === 'object') out.push(...allTexts(value as Record<string, unknown>));
  }
  return out;
}

describe('catalogues', () => {
  it('zh-CN has no English left (bar file formats and the Shift key), and the same keys as English', () => {
    setFormatLocale('zh-CN');
    const latin = allTexts(zhCN).filter((s) => /[A-Za-z]/.test(s.replace(/\b(JSON|CSV|Shift)\b/g, '')));
    expect(latin).toEqual([]);
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
  });

  it('plurals and numbers come from Intl for the locale', () => {
    setFormatLocale('en');
    expect(en.newUpdates(1)).toBe('↑ 1 new update');
    expect(en.newUpdates(2)).toBe('↑ 2 new updates');
    expect(en.watching(12345)).toBe('12,345 watching');
    expect(en.loadingTimeline(1)).toBe('Loading the timeline… 1 entry');
    setFormatLocale('zh-CN');
    expect(zhCN.newUpdates(1)).toBe('↑ 1 条新动态');
    expect(zhCN.newUpdates(2)).toBe('↑ 2 条新动态');
    expect(zhCN.watching(12345)).toBe('12,345 人在看');
    expect(zhCN.refusal('rate_limited', 'too many requests')).toBe('发送过于频繁');
  });
});

describe('pickLocale', () => {
  it('takes the first Chinese or English language the browser lists', () => {
    expect(pickLocale(null, ['zh-CN', 'en'])).toBe('zh-CN');
    expect(pickLocale(null, ['zh-TW'])).toBe('zh-CN');
    expect(pickLocale(null, ['zh'])).toBe('zh-CN');
    expect(pickLocale(null, ['fr-FR', 'en-GB', 'zh-CN'])).toBe('en');
    expect(pickLocale(null, ['fr-FR', 'zh-Hans-CN'])).toBe('zh-CN');
    expect(pickLocale(null, ['fr-FR', 'de'])).toBe('en');
    expect(pickLocale(null, [])).toBe('en');
  });

  it('a stored choice wins; anything else stored is ignored', () => {
    expect(pickLocale('en', ['zh-CN'])).toBe('en');
    expect(pickLocale('zh-CN', ['en-US'])).toBe('zh-CN');
    expect(pickLocale('klingon', ['zh-CN'])).toBe('zh-CN');
  });
});
