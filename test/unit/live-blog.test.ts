// The pure builders the snapshot uses and the live page will reuse in the browser.
import { describe, expect, it } from 'vitest';
import { newEntry } from '../../shared/domain/entry';
import {
  coverageEnd,
  DEFAULT_COVERAGE_MS,
  entryUrl,
  escapeHtml,
  headline,
  HEADLINE_CHARS,
  jsonForScript,
  liveBlogPosting,
  shareDescription,
} from '../../shared/domain/live-blog';

const event = {
  eventId: 'ev1',
  title: '香鱼节',
  createdAt: '2026-07-01T01:00:00.000Z',
  startsAt: '2026-07-01T09:00:00+08:00',
};
const at = (iso: string) => new Date(iso);

describe('jsonForScript', () => {
  it('leaves nothing that can end or change a script block, and means the same JSON', () => {
    const value = { t: '</script><script>alert(1)</script> <!-- & \u2028\u2029 </SCRIPT >' };
    const out = jsonForScript(value);
    expect(out).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(out)).toEqual(value);
  });
});

describe('headline', () => {
  it('is the first line, cut by code points (never inside a surrogate pair) with an ellipsis', () => {
    expect(headline('第一行\n第二行')).toBe('第一行');
    const long = '🐟'.repeat(HEADLINE_CHARS + 5);
    const cut = headline(long);
    expect([...cut]).toHaveLength(HEADLINE_CHARS);
    expect(cut.endsWith('🐟…')).toBe(true);
    expect(headline('短')).toBe('短');
  });
});

describe('liveBlogPosting', () => {
  const entries = [
    { ...newEntry(3, { kind: 'text', text: '最新' }, at('2026-07-01T03:00:00Z')) },
    { ...newEntry(2, { kind: 'key', text: '关键时刻' }, at('2026-07-01T02:00:00Z')) },
  ];

  it('covers from the announced start to a day later, or to the newest update if later', () => {
    expect(coverageEnd(event, entries)).toBe(new Date(Date.parse(event.startsAt) + DEFAULT_COVERAGE_MS).toISOString());
    const late = [{ ...entries[0]!, updatedAt: '2026-07-05T00:00:00.000Z' }];
    expect(coverageEnd(event, late)).toBe('2026-07-05T00:00:00.000Z');
  });

  it('has one BlogPosting per entry with its link, and describes the event by its newest key moment', () => {
    const ld = liveBlogPosting(event, entries, 'https://live.example.com');
    expect(ld.coverageStartTime).toBe(event.startsAt);
    expect((ld.liveBlogUpdate as { url: string }[]).map((u) => u.url)).toEqual([
      entryUrl('https://live.example.com', 'ev1', 3),
      entryUrl('https://live.example.com', 'ev1', 2),
    ]);
    expect(ld.description).toBe('关键时刻');
    expect(shareDescription(event, [])).toBe('香鱼节');
    expect(ld.dateModified).toBe('2026-07-01T03:00:00.000Z');
  });
});

it('escapes the five HTML characters', () => {
  expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
    '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
  );
});
