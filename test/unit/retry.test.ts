import { describe, expect, it } from 'vitest';
import { attempts, backoffMs } from '../../shared/retry';

describe('attempts', () => {
  it('yields every try and waits a capped, jittered backoff before each retry past the immediate ones', async () => {
    const waits: number[] = [];
    const seen: number[] = [];
    for await (const attempt of attempts({
      tries: 6,
      baseMs: 20,
      capMs: 500,
      immediate: 1,
      random: () => 1,
      sleep: async (ms) => void waits.push(ms),
    })) {
      seen.push(attempt);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    // Attempt 1 goes at once; then 20 × 2^n, capped at 500.
    expect(waits).toEqual([80, 160, 320, 500]);
  });

  it('stops waiting when the caller breaks out on success', async () => {
    const waits: number[] = [];
    let last = -1;
    for await (const attempt of attempts({ tries: 10, random: () => 0.5, sleep: async (ms) => void waits.push(ms) })) {
      last = attempt;
      if (attempt === 2) break;
    }
    expect(last).toBe(2);
    expect(waits).toEqual([50, 100]);
  });

  it('full jitter: anywhere from 0 to the ceiling', () => {
    expect(backoffMs(3, () => 0)).toBe(0);
    expect(backoffMs(3, () => 0.999)).toBeCloseTo(399.6);
    expect(backoffMs(10, () => 1, 50, 2_000)).toBe(2_000);
  });
});
