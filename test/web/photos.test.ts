// The pure parts of photos in the pages: the size a photo is shrunk to, where its url points, and
// the replay's CSV naming every photo (absolute, since a spreadsheet has no origin to read against).
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/domain/protocol';
import { fitWithin } from '../../web/lib/photos';
import { imageUrl } from '../../web/lib/photos-view';
import { ReplayModel } from '../../web/lib/replay-model';
import { imagesOf } from '../../web/lib/types';

describe('fitWithin (shrinking on the device)', () => {
  it('brings the longest side to 1,600 px, keeping the proportions, and never enlarges', () => {
    expect(fitWithin(4032, 3024)).toEqual({ width: 1600, height: 1200 }); // a 12 MP phone photo
    expect(fitWithin(3024, 4032)).toEqual({ width: 1200, height: 1600 }); // upright
    expect(fitWithin(4000, 1000)).toEqual({ width: 1600, height: 400 }); // a panorama
    expect(fitWithin(800, 600)).toEqual({ width: 800, height: 600 });
    expect(fitWithin(10000, 3)).toEqual({ width: 1600, height: 1 }); // never 0 px
  });
});

describe('imageUrl', () => {
  it("reads a relative url against the HTTP API's origin, and leaves an absolute one alone", () => {
    const page = 'https://live.example.org/live/ev1';
    expect(imageUrl({ apiUrl: '' }, '/images/ev1/abc', page)).toBe('https://live.example.org/images/ev1/abc');
    expect(imageUrl({ apiUrl: 'https://api.example.org/prod' }, '/images/ev1/abc', page)).toBe(
      'https://api.example.org/images/ev1/abc',
    );
    expect(imageUrl({ apiUrl: 'https://api.example.org/prod' }, 'images/ev1/abc', page)).toBe(
      'https://api.example.org/images/ev1/abc',
    );
    expect(imageUrl({ apiUrl: '' }, 'https://cdn.example.org/images/x', page)).toBe('https://cdn.example.org/images/x');
  });
});

describe('entries with and without photos', () => {
  const base = {
    seq: 1,
    rev: 1,
    kind: 'text',
    text: '',
    pinned: false,
    deleted: false,
    createdAt: '2026-11-29T10:00:00.000Z',
    updatedAt: '2026-11-29T10:00:00.000Z',
    reposts: 0,
  } as const;
  const photo = { url: '/images/e1/a', width: 1600, height: 1200, alt: 'the stage' };

  it('reads an entry from before photos (no images field) as having none', () => {
    expect(imagesOf(base as Entry)).toEqual([]);
    expect(imagesOf({ ...base, images: [photo] })).toEqual([photo]);
  });

  it("the replay's exports name each revision's photos, absolute: space-separated in the CSV, whole in the JSON", () => {
    const withPhotos = {
      ...base,
      images: [photo, { url: 'https://cdn.example.org/b', width: 10, height: 10 }],
    } as Entry;
    const m = new ReplayModel({
      event: { eventId: 'e1', title: 'T', lastSeq: 1, viewers: 0, createdAt: base.createdAt },
      entries: [withPhotos],
      revisions: [{ changeNo: 1, entry: withPhotos }],
      reposts: { buckets: [], spikes: [], total: 0 },
    });
    const [header, row] = m
      .toCsv((url) => imageUrl({ apiUrl: 'https://api.example.org' }, url, 'https://x.example/'))
      .slice(1)
      .split('\r\n');
    expect(header?.split(',').at(-1)).toBe('images');
    expect(row?.split(',').at(-1)).toBe('https://api.example.org/images/e1/a https://cdn.example.org/b');
    const json = JSON.parse(
      m.toJson(new Date(), (url) => imageUrl({ apiUrl: 'https://api.example.org' }, url, 'https://x.example/')),
    ) as { entries: { revisions: Entry[] }[] };
    expect(json.entries[0]?.revisions[0]?.images).toEqual([
      { ...photo, url: 'https://api.example.org/images/e1/a' },
      { url: 'https://cdn.example.org/b', width: 10, height: 10 },
    ]);
  });
});
