// `images` on publish and edit (PROTOCOL v1.1 and the alt-text extension): what the schema accepts,
// how it normalises a plain id, and the clear error of everything it refuses.
import { describe, expect, it } from 'vitest';
import { parseFrame } from '../../functions/lib/ws';
import { AppError } from '../../shared/domain/errors';
import { editEntry, newEntry } from '../../shared/domain/entry';
import { editFrame, entrySchema, publishFrame } from '../../shared/domain/protocol';

const id = (n: number) => `${String(n).padStart(2, '0')}${'a'.repeat(20)}`;
const publish = (fields: Record<string, unknown>) => JSON.stringify({ action: 'publish', clientId: 'c1', ...fields });
const refusal = (fn: () => unknown): { code: string; message: string } => {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('accepted');
};

describe('publish images', () => {
  it('takes plain ids and {imageId, alt} alike, in their order, as {imageId, alt?}', () => {
    const frame = parseFrame(
      publishFrame,
      publish({ text: 'x', images: [id(1), { imageId: id(2), alt: '  舞龙 dragon dance ' }, { imageId: id(3) }] }),
    );
    expect(frame.images).toEqual([
      { imageId: id(1) },
      { imageId: id(2), alt: '舞龙 dragon dance' },
      { imageId: id(3) },
    ]);
  });

  it('allows empty text beside photos, never without them', () => {
    expect(parseFrame(publishFrame, publish({ text: '', images: [id(1)] })).text).toBe('');
    for (const fields of [{ text: '' }, { text: '', images: [] }]) {
      expect(refusal(() => parseFrame(publishFrame, publish(fields)))).toMatchObject({
        code: 'bad_request',
        message: expect.stringContaining('text must not be empty'),
      });
    }
    // Blank is not empty: spaces alone are still refused, photos or not.
    expect(refusal(() => parseFrame(publishFrame, publish({ text: '   ', images: [id(1)] }))).code).toBe('bad_request');
    // Without images, as before: 1..2000 characters.
    expect(refusal(() => parseFrame(publishFrame, publish({ text: 'x'.repeat(2001), images: [id(1)] }))).code).toBe(
      'too_large',
    );
  });

  it('refuses more than 4, a repeated one, a malformed id, unknown fields and a long alt', () => {
    const cases: [unknown, string, string][] = [
      [[id(1), id(2), id(3), id(4), id(5)], 'bad_request', 'at most 4'],
      [[id(1), { imageId: id(1), alt: 'again' }], 'bad_request', 'only once'],
      [['short'], 'bad_request', 'not an image id'],
      [[`${'a'.repeat(21)}/`], 'bad_request', 'not an image id'],
      [[42], 'bad_request', ''],
      [[{ imageId: id(1), width: 10 }], 'bad_request', 'width'],
      [[{ imageId: id(1), alt: 'a'.repeat(301) }], 'too_large', 'alt'],
      [[{ imageId: id(1), alt: 'two\nlines' }], 'bad_request', 'alt'],
      ['not a list', 'bad_request', ''],
    ];
    for (const [images, code, mentions] of cases) {
      const r = refusal(() => parseFrame(publishFrame, publish({ text: 'x', images })));
      expect(r.code, JSON.stringify(images)).toBe(code);
      expect(r.message, JSON.stringify(images)).toContain(mentions);
    }
    expect(
      parseFrame(publishFrame, publish({ text: 'x', images: [{ imageId: id(1), alt: 'a'.repeat(300) }] })).images?.[0]
        ?.alt,
    ).toHaveLength(300);
  });
});

describe('edit images', () => {
  const edit = (fields: Record<string, unknown>) =>
    JSON.stringify({ action: 'edit', clientId: 'c2', seq: 1, ...fields });

  it('keeps the photos without `images`, replaces them with it, and needs text or photos after', () => {
    expect(parseFrame(editFrame, edit({ text: '' })).images).toBeUndefined();
    expect(refusal(() => parseFrame(editFrame, edit({ text: '', images: [] }))).code).toBe('bad_request');
    const now = new Date('2026-12-01T10:00:00Z');
    const photo = { url: 'https://cdn/images/e/x', width: 4, height: 3 };
    const withPhoto = newEntry(1, { kind: 'text', text: 'a', images: [photo] }, now);
    expect(editEntry(withPhoto, '', now).images).toEqual([photo]);
    expect(editEntry(withPhoto, 'b', now, []).images).toEqual([]);
    expect(() => editEntry(newEntry(1, { kind: 'text', text: 'a' }, now), '', now)).toThrow(/text must not be empty/);
  });
});

describe('entry', () => {
  it('always has images: [] when it has none', () => {
    const entry = newEntry(1, { kind: 'text', text: 'a' }, new Date());
    expect(entry.images).toEqual([]);
    expect(entrySchema.safeParse(entry).success).toBe(true);
    const { images: _none, ...without } = entry;
    expect(entrySchema.safeParse(without).success).toBe(false);
  });
});
