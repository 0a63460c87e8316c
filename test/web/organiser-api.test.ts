// The organiser console's pure parts: the links it hands out, the embed snippet (escaped), the start
// time as the API wants it; and the embed's frame-ancestors setting, refused when it is not a source.
import { describe, expect, it } from 'vitest';
import { parseFrameAncestors } from '../../shared/config';
import { createEventBody } from '../../shared/domain/protocol';
import { embedSnippet, eventLinks, startsAtFromLocal } from '../../web/lib/organiser-api';

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

describe('embed frame ancestors (LIVECAST_EMBED_ANCESTORS, -c embedAncestors)', () => {
  it("defaults to 'self' and reads space- or comma-separated sources", () => {
    expect(parseFrameAncestors(undefined)).toEqual(["'self'"]);
    expect(parseFrameAncestors(' ')).toEqual(["'self'"]);
    expect(parseFrameAncestors("'self', https://Portal.Example.org/ https://*.example.com:8443 http://127.0.0.1:4100")).toEqual([
      "'self'",
      'https://portal.example.org',
      'https://*.example.com:8443',
      'http://127.0.0.1:4100',
    ]);
    expect(parseFrameAncestors('https:')).toEqual(['https:']);
    expect(parseFrameAncestors("'none'")).toEqual(["'none'"]);
  });

  it('refuses what is not a source, naming it: nothing can end the directive or frame everything by mistake', () => {
    for (const bad of ['*', 'self', 'portal.example.org', "https://a.example; script-src *", 'https://a.example/path', "'unsafe-inline'", 'javascript:', 'https://a.example,']) {
      if (bad === 'https://a.example,') {
        // A trailing comma is only a separator.
        expect(parseFrameAncestors(bad)).toEqual(['https://a.example']);
        continue;
      }
      expect(() => parseFrameAncestors(bad), bad).toThrow(/is not a source/);
    }
    expect(() => parseFrameAncestors("'none' https://a.example")).toThrow(/'none' stands alone/);
  });
});
