// What free text a client may send: the rule in shared/domain/text.ts and the frames and bodies that use it.
import { describe, expect, it } from 'vitest';
import { parseFrame } from '../../functions/lib/ws';
import { AppError } from '../../shared/domain/errors';
import { createEventBody, editFrame, publishFrame, repostFrame } from '../../shared/domain/protocol';
import { checkText, MAX_TEXT_CHARS } from '../../shared/domain/text';

const publish = (text: string, clientId = 'c1') => JSON.stringify({ action: 'publish', clientId, text });

/** The error a frame is refused with, as the handler would send it. */
function refusal(schema: Parameters<typeof parseFrame>[0], body: string): { code: string; message: string } {
  try {
    parseFrame(schema, body);
  } catch (e) {
    if (e instanceof AppError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error(`accepted: ${body}`);
}

const isWellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

describe('text that must still pass, stored as sent', () => {
  it.each([
    ['Chinese with emoji', '香鱼节开幕式现在开始！🎉🐟 龙舟已经下水'],
    ['ZWJ emoji sequences and flags', 'family 👨‍👩‍👧‍👦, rainbow 🏳️‍🌈, skin tone 👍🏽, flag 🇯🇵'],
    ['newlines and tabs', 'line one\nline two\n\n\tindented\tcolumns'],
    ['Arabic', 'مرحبا بكم في مهرجان السمك الحلو'],
    ['Hebrew with a right-to-left mark', 'ברוכים הבאים לפסטיבל\u200F 2026'],
    ['an ideographic space inside text', '开幕式\u3000现在开始'],
    ['leading and trailing spaces (kept: a text is never trimmed)', '  indented quote  '],
  ])('%s', (_name, text) => {
    expect(checkText(text, { name: 'text', maxChars: MAX_TEXT_CHARS })).toEqual({ ok: true, text });
    expect(parseFrame(publishFrame, publish(text)).text).toBe(text);
  });

  it('2,000 Chinese characters, and 2,000 emoji (4 UTF-16 units each as surrogate pairs, one character)', () => {
    expect(parseFrame(publishFrame, publish('鱼'.repeat(2000))).text).toHaveLength(2000);
    expect(parseFrame(publishFrame, publish('🐟'.repeat(2000))).text).toHaveLength(4000);
    expect(refusal(publishFrame, publish('鱼'.repeat(2001))).code).toBe('too_large');
  });
});

describe('line endings', () => {
  it('stores \\r\\n and a lone \\r as \\n', () => {
    expect(parseFrame(publishFrame, publish('one\r\ntwo\rthree\n\rfour')).text).toBe('one\ntwo\nthree\n\nfour');
    expect(parseFrame(editFrame, JSON.stringify({ action: 'edit', clientId: 'e', seq: 1, text: 'a\r\nb' })).text).toBe(
      'a\nb',
    );
  });

  it('counts the 2,000 characters on the text as stored: 1,000 lines ending in \\r\\n fit', () => {
    const text = '鱼\r\n'.repeat(1000); // 3,000 characters as sent, 2,000 as stored
    expect(parseFrame(publishFrame, publish(text)).text).toBe('鱼\n'.repeat(1000));
  });
});

describe('blank text is refused as empty', () => {
  it.each([
    ['spaces', '   '],
    ['newlines and tabs', '\n\t\r\n '],
    ['ideographic spaces', '\u3000\u3000'],
    ['no-break and other Unicode spaces', '\u00A0\u2002\u2003\u202F\u205F'],
    ['a zero-width space', '\u200B'],
    ['a byte order mark', '\uFEFF'],
    ['zero-width joiners and a word joiner between spaces', ' \u200D\u2060\u200C '],
  ])('%s', (_name, text) => {
    const error = refusal(publishFrame, publish(text));
    expect(error.code).toBe('bad_request');
    expect(error.message).toMatch(/text is empty/);
  });

  it('an empty string says so too', () => {
    expect(refusal(publishFrame, publish(''))).toEqual({
      code: 'bad_request',
      message: 'text: text must not be empty',
    });
  });
});

describe('controls and malformed Unicode are refused, naming the character and its position', () => {
  it.each([
    ['NUL', 'ab\u0000c', 'U+0000 at character 3'],
    ['a backspace', '\u0008x', 'U+0008 at character 1'],
    ['an escape', 'x\u001B[31m', 'U+001B at character 2'],
    ['a vertical tab', 'a\u000Bb', 'U+000B at character 2'],
    ['DEL', 'a\u007F', 'U+007F at character 2'],
    ['a C1 control (U+0080)', '\u0080', 'U+0080 at character 1'],
    ['a C1 control (U+009F)', 'ok\u009F', 'U+009F at character 3'],
    ['a right-to-left override', 'invoice \u202Efdp.exe', 'U+202E at character 9'],
    ['a left-to-right embedding', '\u202Aab', 'U+202A at character 1'],
    ['a pop directional formatting', 'ab\u202C', 'U+202C at character 3'],
    ['a right-to-left isolate', '\u2067abc\u2069', 'U+2067 at character 1'],
    ['a pop directional isolate', 'abc\u2069', 'U+2069 at character 4'],
    ['a position counted in characters, after an emoji', '🐟🐟\u0000', 'U+0000 at character 3'],
    ['a position in the text as sent, before \\r\\n is normalised', 'a\r\nb\u0007', 'U+0007 at character 5'],
  ])('%s', (_name, text, where) => {
    const error = refusal(publishFrame, publish(text));
    expect(error.code).toBe('bad_request');
    expect(error.message).toContain(where);
  });

  it.each([
    ['a lone high surrogate', 'ab\uD83D', 'U+D83D at character 3'],
    ['a lone low surrogate', '\uDC1F鱼', 'U+DC1F at character 1'],
    ['a low surrogate before its high one', '\uDC1F\uD83D', 'U+DC1F at character 1'],
    ['a lone surrogate after a valid pair', '🐟\uD800x', 'U+D800 at character 2'],
  ])('%s', (_name, text, where) => {
    const error = refusal(publishFrame, publish(text));
    expect(error).toMatchObject({ code: 'bad_request' });
    expect(error.message).toMatch(/not well-formed Unicode/);
    expect(error.message).toContain(where);
  });

  it('finds malformed text exactly when String.prototype.isWellFormed does', () => {
    const parts = ['a', '鱼', '🐟', '\uD83D', '\uDC1F', '\uD800', '\uDFFF', '\u200D'];
    // Every string of up to three parts: pairs that join into a valid code point and ones that do not.
    const strings = [''];
    for (let n = 0; n < 3; n++) for (const s of [...strings]) for (const p of parts) strings.push(s + p);
    for (const s of strings.filter((x) => x !== '')) {
      const verdict = checkText(s, { name: 'text' });
      expect({ s, malformed: !verdict.ok && verdict.problem === 'malformed' }).toEqual({
        s,
        malformed: !isWellFormed(s),
      });
    }
  });

  it('in an edit too', () => {
    const body = JSON.stringify({ action: 'edit', clientId: 'e1', seq: 1, text: 'fixed\u0000' });
    expect(refusal(editFrame, body)).toMatchObject({ code: 'bad_request' });
  });
});

describe('clientId', () => {
  it('stays as it was: 1..64 UTF-16 units, any printable text', () => {
    expect(parseFrame(publishFrame, publish('x', 'c'.repeat(64))).clientId).toBe('c'.repeat(64));
    expect(parseFrame(publishFrame, publish('x', '报道-7 a')).clientId).toBe('报道-7 a');
    expect(refusal(publishFrame, publish('x', 'c'.repeat(65))).code).toBe('bad_request');
  });

  it.each([
    ['blank', '  ', /clientId is empty/],
    ['a zero-width space alone', '\u200B', /clientId is empty/],
    ['a NUL', 'c\u0000', /U\+0000 at character 2/],
    ['a line break', 'c\n1', /one line.*U\+000A at character 2/],
    ['a lone surrogate', 'c\uD800', /not well-formed.*U\+D800/],
    ['a bidi override', '\u202Ec1', /U\+202E at character 1/],
  ])('refuses %s', (_name, clientId, message) => {
    const error = refusal(publishFrame, publish('x', clientId));
    expect(error.code).toBe('bad_request');
    expect(error.message).toMatch(message);
    expect(refusal(repostFrame, JSON.stringify({ action: 'repost', seq: 1, clientId })).code).toBe('bad_request');
  });
});

describe('event titles', () => {
  const title = (t: string) => createEventBody.safeParse({ title: t });
  const message = (t: string) => {
    const r = title(t);
    return r.success ? 'accepted' : r.error.issues.map((i) => i.message).join('; ');
  };

  it('trims and keeps one-line titles in any script, up to 200 characters', () => {
    expect(title('  香鱼节开幕式 🎉  ').data?.title).toBe('香鱼节开幕式 🎉');
    expect(title('\u3000مهرجان\u3000').data?.title).toBe('مهرجان');
    expect(title('鱼'.repeat(200)).success).toBe(true);
    expect(message('鱼'.repeat(201))).toBe('title is longer than 200 characters');
  });

  it.each([
    ['blank', '   ', /title is empty/],
    ['ideographic spaces', '\u3000\u3000', /title is empty/],
    ['a zero-width space alone', ' \u200B ', /title is empty/],
    ['a newline', 'Opening\nCeremony', /title must be one line: it has a line break U\+000A at character 8/],
    ['\\r\\n', 'Opening\r\nCeremony', /one line.*U\+000D/],
    ['a line separator', 'Opening\u2028Ceremony', /one line.*U\+2028/],
    ['a NUL', 'Festival\u0000', /U\+0000 at character 9/],
    ['a C1 control', '\u0085Festival', /U\+0085 at character 1/],
    ['a bidi override', 'Festival \u202E', /U\+202E at character 10/],
    ['a lone surrogate', 'Festival \uD83D', /not well-formed Unicode.*U\+D83D at character 10/],
  ])('refuses %s', (_name, t, expected) => {
    expect(message(t)).toMatch(expected);
  });
});
