// `npm run simulate`'s settings: flags over SIM_* variables over the defaults, the chaos run's own
// default audience, and a refusal that names the flag (or variable) and what it got.
import { describe, expect, it } from 'vitest';
import { SettingsError, simulateSettings } from '../../scripts/lib/simulate-settings';

const settings = (argv: string[], env: NodeJS.ProcessEnv = {}) => simulateSettings(argv, env);

describe('simulate settings', () => {
  it('defaults: 1,000 viewers 400 ms apart; a chaos run 200', () => {
    expect(settings([])).toMatchObject({ chaos: false, viewers: 1_000, paceMs: 400 });
    expect(settings(['--chaos'])).toMatchObject({ chaos: true, viewers: 200, paceMs: 400 });
  });

  it('takes a flag over its variable, and the variable over the default', () => {
    expect(settings(['--viewers', '30', '--pace=50'], { SIM_VIEWERS: '7', SIM_PACE_MS: '9' })).toMatchObject({
      viewers: 30,
      paceMs: 50,
    });
    expect(settings(['--chaos'], { SIM_VIEWERS: '7', SIM_PACE_MS: '9' })).toMatchObject({ viewers: 7, paceMs: 9 });
  });

  it('seeds the chaos run from LIVECAST_FAULT_SEED, else from the clock', () => {
    expect(settings(['--chaos'], { LIVECAST_FAULT_SEED: '42' })).toMatchObject({ seed: 42 });
    const seed = (settings(['--chaos']) as { seed: number }).seed;
    expect(Number.isInteger(seed) && seed >= 0 && seed < 100_000).toBe(true);
  });

  it('answers help', () => {
    expect(settings(['--help'])).toBe('help');
    expect(settings(['-h', '--chaos'])).toBe('help');
  });

  it.each([
    [['--viewers', '0'], {}, '--viewers takes a positive whole number, got 0'],
    [['--pace', '2.5'], {}, '--pace takes a positive whole number, got 2.5'],
    [[], { SIM_VIEWERS: 'many' }, 'SIM_VIEWERS takes a positive whole number, got many'],
    [['--chaos'], { LIVECAST_FAULT_SEED: 'x' }, 'LIVECAST_FAULT_SEED takes a number, got x'],
    [['--viewrs', '5'], {}, "Unknown option '--viewrs'"],
    [['--viewers'], {}, "Option '--viewers <value>' argument missing"],
    [['fast'], {}, "Unexpected argument 'fast'"],
  ] as [string[], NodeJS.ProcessEnv, string][])('refuses %j %j', (argv, env, message) => {
    expect(() => settings(argv, env)).toThrow(SettingsError);
    expect(() => settings(argv, env)).toThrow(message);
  });
});
