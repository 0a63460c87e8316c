// The organiser console's pure parts: the links it hands out, the embed snippet (escaped), the start
// time as the API wants it, and its own catalogue (web/organiser/messages.ts) in both languages.
import { describe, expect, it } from 'vitest';
import { createEventBody } from '../../shared/domain/protocol';
import { embedSnippet, eventLinks, startsAtFromLocal } from '../../web/lib/organiser-api';
import { setFormatLocale } from '../../web/lib/intl';
import { organiserEn, organiserZhCN } from '../../web/organiser/messages';

describe('organiser links', () => {
  it('names every page of an event, the token only in the fragment (never sent to a server)', () => {
    expect(eventLinks('https://live.example.com', 'Ev_1-x', 'tok/en+=')).toEqual({
      live: 'https://live.example.com/live/Ev_1-x',
      replay: 'https://live.example.com/replay/Ev_1-x',
      embed: 'https://live.example.com/embed/Ev_1-x',
      report: 'https://live.example.com/report/Ev_1-x#token=tok%2Fen%2B%3D',
    });
    expect(eventLinks('https://live.example.com', 'a b').report).toBe('https://live.example.com/report/a%20b');
  });

  it('builds an iframe snippet whose title cannot break out of its attribute', () => {
    const snippet = embedSnippet('https://live.example.com', 'E1', `A "quoted" <b>title</b> & 'more'`);
    expect(snippet).toBe(
      `<iframe src="https://live.example.com/embed/E1" title="A &quot;quoted&quot; &lt;b&gt;title&lt;/b&gt; &amp; &#39;more&#39;" width="100%" height="600" style="border:0;max-width:480px" loading="lazy"></iframe>`,
    );
  });

  it('sends the start time as ISO-8601 with an offset, which POST /events accepts; empty is none; nonsense is refused', () => {
    const iso = startsAtFromLocal('2026-02-12T19:30')!;
    expect(new Date(iso).getTime()).toBe(new Date(2026, 1, 12, 19, 30).getTime());
    expect(createEventBody.safeParse({ title: 'x', startsAt: iso }).success).toBe(true);
    expect(startsAtFromLocal('  ')).toBeUndefined();
    expect(() => startsAtFromLocal('soon')).toThrow(RangeError);
  });
});

describe("the console's catalogue", () => {
  it('zh-CN has every key and no English left', () => {
    setFormatLocale('zh-CN');
    const texts = Object.values(organiserZhCN).flatMap((v) => {
      if (typeof v === 'string') return [v];
      const out = (v as (...a: unknown[]) => unknown)(...Array.from({ length: v.length }, () => 2));
      return (Array.isArray(out) ? out : [out]).filter((p): p is string => typeof p === 'string');
    });
    expect(texts.filter((x) => /[A-Za-z]/.test(x))).toEqual([]);
    expect(Object.keys(organiserZhCN).sort()).toEqual(Object.keys(organiserEn).sort());
    setFormatLocale('en');
  });
});
