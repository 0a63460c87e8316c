import { describe, expect, it } from 'vitest';
import { charCount, publishFrame, timelineQuery } from '../../shared/domain/protocol';
import { hashToken, keyMatches, newOperatorToken, tokenMatches } from '../../shared/domain/secrets';
import { parseFrame } from '../../functions/lib/ws';
import { AppError } from '../../shared/domain/errors';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof AppError ? e.code : 'not an AppError';
  }
  return 'no error';
};

describe('frame validation', () => {
  it('counts characters as people do: a Chinese character or an emoji is one', () => {
    expect(charCount('香鱼节')).toBe(3);
    expect(charCount('🎉🐟')).toBe(2);
  });

  it('accepts 2,000 characters of Chinese and refuses 2,001 as too_large', () => {
    const body = (n: number) => JSON.stringify({ action: 'publish', clientId: 'c', text: '鱼'.repeat(n) });
    expect(parseFrame(publishFrame, body(2000)).text).toHaveLength(2000);
    expect(codeOf(() => parseFrame(publishFrame, body(2001)))).toBe('too_large');
  });

  it('refuses malformed JSON, wrong types and missing fields as bad_request', () => {
    expect(codeOf(() => parseFrame(publishFrame, '{"action":"publish",'))).toBe('bad_request');
    expect(codeOf(() => parseFrame(publishFrame, '{"action":"publish","clientId":1,"text":"x"}'))).toBe('bad_request');
    expect(codeOf(() => parseFrame(publishFrame, '{"action":"publish","text":"x"}'))).toBe('bad_request');
    expect(codeOf(() => parseFrame(publishFrame, '{"action":"publish","clientId":"c","text":""}'))).toBe('bad_request');
    expect(
      codeOf(() => parseFrame(publishFrame, '{"action":"publish","clientId":"c","text":"x","kind":"video"}')),
    ).toBe('bad_request');
    expect(
      codeOf(() =>
        parseFrame(publishFrame, JSON.stringify({ action: 'publish', clientId: 'c'.repeat(65), text: 'x' })),
      ),
    ).toBe('bad_request');
  });

  it('defaults and bounds the timeline query', () => {
    expect(timelineQuery.parse({})).toEqual({ after: 0, limit: 100 });
    expect(timelineQuery.safeParse({ limit: '501' }).success).toBe(false);
    expect(timelineQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(timelineQuery.safeParse({ after: 'x' }).success).toBe(false);
  });
});

describe('tokens', () => {
  it('match only the token they were made from, and the hash does not contain it', () => {
    const token = newOperatorToken();
    const stored = hashToken(token);
    expect(stored).not.toContain(token);
    expect(tokenMatches(token, stored)).toBe(true);
    expect(tokenMatches(token.slice(1), stored)).toBe(false);
    expect(tokenMatches('', stored)).toBe(false);
    expect(keyMatches('organiser-secret-key', 'organiser-secret-key')).toBe(true);
    expect(keyMatches('organiser-secret-kez', 'organiser-secret-key')).toBe(false);
  });
});
