// The embed's frame-ancestors setting (LIVECAST_EMBED_ANCESTORS locally, -c embedAncestors deployed):
// read into CSP sources, and refused, with the source named, when one is not a source.
import { describe, expect, it } from 'vitest';
import { parseFrameAncestors } from '../../shared/config';

describe('embed frame ancestors (LIVECAST_EMBED_ANCESTORS, -c embedAncestors)', () => {
  it("defaults to 'self' and reads space- or comma-separated sources", () => {
    expect(parseFrameAncestors(undefined)).toEqual(["'self'"]);
    expect(parseFrameAncestors(' ')).toEqual(["'self'"]);
    expect(
      parseFrameAncestors("'self', https://Portal.Example.org/ https://*.example.com:8443 http://127.0.0.1:4100"),
    ).toEqual(["'self'", 'https://portal.example.org', 'https://*.example.com:8443', 'http://127.0.0.1:4100']);
    expect(parseFrameAncestors('https:')).toEqual(['https:']);
    expect(parseFrameAncestors("'none'")).toEqual(["'none'"]);
  });

  it('refuses what is not a source, naming it: nothing can end the directive or frame everything by mistake', () => {
    for (const bad of [
      '*',
      'self',
      'portal.example.org',
      'https://a.example; script-src *',
      'https://a.example/path',
      "'unsafe-inline'",
      'javascript:',
      'https://a.example,',
    ]) {
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
