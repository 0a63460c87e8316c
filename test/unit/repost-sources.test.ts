// Viewer ids, the address sizes repost rules count in, and the spike rule on distinct viewers and networks.
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { repostOf } from '../../functions/repost-tally';
import { addressKey, networkOf, sourceOf, voterOf } from '../../shared/domain/reposts/sources';
import {
  defaultSpikeRules,
  detectSpikes,
  initialDetectorState,
  type RepostSecond,
} from '../../shared/domain/reposts/spike-detector';
import { issueViewerId, VIEWER_ID_MAX_AGE_MS, verifyViewerId } from '../../shared/domain/viewer-id';

const SECRET = 'unit-secret-0123456789abcdef0123456789abcdef';
const NOW = 1_780_000_000_000;

describe('viewer ids', () => {
  it('verify when this key signed them, within their life', () => {
    const id = issueViewerId(SECRET, NOW);
    expect(verifyViewerId(SECRET, id.token, NOW)).toEqual(id);
    expect(verifyViewerId(SECRET, id.token, NOW + VIEWER_ID_MAX_AGE_MS - 1000)?.id).toBe(id.id);
    expect(issueViewerId(SECRET, NOW).id).not.toBe(id.id);
  });

  it('refuse another key, any changed character, expiry, a future issue time and garbage', () => {
    const { token } = issueViewerId(SECRET, NOW);
    expect(verifyViewerId(`${SECRET}x`, token, NOW)).toBeUndefined();
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue;
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      expect(verifyViewerId(SECRET, changed, NOW), `character ${i}`).toBeUndefined();
    }
    expect(verifyViewerId(SECRET, token, NOW + VIEWER_ID_MAX_AGE_MS + 1000)).toBeUndefined();
    expect(verifyViewerId(SECRET, issueViewerId(SECRET, NOW + 120_000).token, NOW)).toBeUndefined();
    for (const junk of ['', 'abc', `${token}.x`, token.replace(/\./g, '-')])
      expect(verifyViewerId(SECRET, junk, NOW)).toBeUndefined();
  });
});

describe('addresses and networks', () => {
  it('limit IPv4 per /32 and IPv6 per /64; count networks as IPv4 /24 and IPv6 /48', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:a:b:1:2:3:4')).toBe('2001:db8:a:b::/64');
    expect(addressKey('2001:db8:a:b::9')).toBe(addressKey('2001:db8:a:b:ffff::1'));
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(networkOf('203.0.113.7')).toBe(networkOf('203.0.113.200'));
    expect(networkOf('203.0.113.7')).not.toBe(networkOf('203.0.114.7'));
    expect(networkOf('2001:db8:a:b::1')).toBe(networkOf('2001:db8:a:ffff::1'));
    expect(networkOf('2001:db8:a::1')).not.toBe(networkOf('2001:db8:b::1'));
    for (const bad of [undefined, '', 'localhost', '300.1.1.1']) expect(addressKey(bad)).toBe('unknown');
  });

  it('count a repost as its viewer id, else its address, else its connection', () => {
    expect(voterOf({ viewer: 'V', sourceIp: '203.0.113.7' }, 'c1')).toBe('v:V');
    expect(voterOf({ sourceIp: '203.0.113.7' }, 'c1')).toBe(voterOf({ sourceIp: '203.0.113.7' }, 'c2'));
    expect(voterOf({ sourceIp: '203.0.113.7' }, 'c1')).not.toBe(voterOf({ sourceIp: '203.0.113.8' }, 'c1'));
    expect(voterOf({}, 'c1')).toBe('c1');
    // Stored as fingerprints, not addresses.
    expect(voterOf({ sourceIp: '203.0.113.7' }, 'c1')).not.toContain('203');
    expect(sourceOf({ sourceIp: '203.0.113.7' })).toBe(sourceOf({ sourceIp: '203.0.113.99' }));
  });
});

describe('the spike rule on sources', () => {
  const T0 = 1_780_000_000_000;
  const quiet = (n: number): RepostSecond[] =>
    Array.from({ length: n }, (_, i) => ({ t: T0 + i * 1000, bySeq: { 1: 2 }, viewers: 2, sources: 2 }));
  const wave = (viewers: number | undefined, sources: number | undefined): RepostSecond => ({
    t: T0 + 30_000,
    bySeq: { 1: 300 },
    ...(viewers === undefined ? {} : { viewers }),
    ...(sources === undefined ? {} : { sources }),
  });
  const started = (second: RepostSecond) =>
    detectSpikes(initialDetectorState(), [...quiet(30), second]).events.filter((e) => e.type === 'started');

  it('needs 20 distinct viewers and 5 distinct networks in the starting second', () => {
    expect(defaultSpikeRules).toMatchObject({ minViewers: 20, minSources: 5 });
    expect(started(wave(150, 15))).toHaveLength(1);
    expect(started(wave(20, 5))).toHaveLength(1);
    expect(started(wave(150, 1))).toEqual([]); // one host, as many viewer ids as it likes
    expect(started(wave(150, 4))).toEqual([]);
    expect(started(wave(19, 15))).toEqual([]);
    // Seconds tallied before sources were kept say nothing, and are judged as before.
    expect(started(wave(undefined, undefined))).toHaveLength(1);
  });

  it('still learns the baseline from a loud second that was not diverse', () => {
    const { state } = detectSpikes(initialDetectorState(), [...quiet(30), wave(150, 1)]);
    expect(state.open).toBeNull();
    expect(state.baseline).toBeGreaterThan(20);
  });
});

describe('the tally', () => {
  const image = {
    eventId: { S: 'ev1' },
    seq: { N: '1' },
    connectionId: { S: 'c1' },
    at: { N: String(NOW) },
    voter: { S: 'v:V' },
    source: { S: 'net' },
  };

  it('reads a repost with its voter and source from an INSERT, and nothing from a TTL REMOVE', () => {
    const insert = {
      eventName: 'INSERT',
      dynamodb: { NewImage: image, SequenceNumber: '100' },
    } as unknown as DynamoDBRecord;
    expect(repostOf(insert)).toEqual({
      eventId: 'ev1',
      seq: 1,
      connectionId: 'c1',
      at: NOW,
      voter: 'v:V',
      source: 'net',
      sequence: '100',
    });
    const expired = {
      eventName: 'REMOVE',
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
      dynamodb: { OldImage: image, SequenceNumber: '200' },
    } as unknown as DynamoDBRecord;
    expect(repostOf(expired)).toBeUndefined();
  });
});
