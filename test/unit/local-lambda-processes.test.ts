// The local stage's Lambda environments in child processes: results and errors cross the channel,
// invocations spread over the processes, a dead environment is replaced, stopping runs time out.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { lambdaContext } from '../../local/lambda-context';
import { lambdaProcesses, type LambdaProcesses } from '../../local/lambda-processes';

const PROBE = resolve(fileURLToPath(new URL('.', import.meta.url)), '../support/fixtures/probe-handler.ts');

interface ProbeResult {
  pid: number;
  functionName: string;
  remainingMs: number;
  probeEnv: string | null;
}

let pool: LambdaProcesses | undefined;
afterEach(async () => {
  await pool?.stop(2_000);
  pool = undefined;
});

function start(processes: number, timeoutMs = 60_000): LambdaProcesses {
  pool = lambdaProcesses({ module: PROBE, functionName: 'probe', timeoutMs, processes, log: () => {} });
  return pool;
}

const call = (p: LambdaProcesses, event: object) => p.invoke(event, lambdaContext('probe')) as Promise<ProbeResult>;

describe('local Lambda environments in child processes', () => {
  it('runs the handler in another process with the configuration set before it started', async () => {
    process.env.LIVECAST_PROBE = 'from-the-stage';
    try {
      const p = start(1);
      const result = await call(p, {});
      expect(result.pid).not.toBe(process.pid);
      expect(p.pids()).toEqual([result.pid]);
      expect(result.functionName).toBe('probe');
      expect(result.probeEnv).toBe('from-the-stage');
      expect(result.remainingMs).toBeGreaterThan(50_000);
      expect(result.remainingMs).toBeLessThanOrEqual(60_000);
    } finally {
      delete process.env.LIVECAST_PROBE;
    }
  });

  it("passes a handler's error back with its name and message", async () => {
    const p = start(1);
    await expect(call(p, { fail: 'the river is too high' })).rejects.toMatchObject({ name: 'ProbeError', message: 'the river is too high' });
    // The environment survives a handler error.
    await expect(call(p, {})).resolves.toMatchObject({ functionName: 'probe' });
  });

  it('spreads concurrent invocations over the environments', async () => {
    const p = start(2);
    await p.warm();
    expect(p.pids()).toHaveLength(2);
    const results = await Promise.all([call(p, { sleepMs: 200 }), call(p, { sleepMs: 200 }), call(p, { sleepMs: 200 }), call(p, { sleepMs: 200 })]);
    const pids = results.map((r) => r.pid);
    expect(new Set(pids).size).toBe(2);
    for (const pid of new Set(pids)) expect(pids.filter((x) => x === pid)).toHaveLength(2);
  });

  it('fails the invocations of an environment that dies, and starts a new one for the next', async () => {
    const p = start(1);
    const first = await call(p, {});
    await expect(call(p, { crash: true })).rejects.toMatchObject({ name: 'Runtime.ExitError' });
    const next = await call(p, {});
    expect(next.pid).not.toBe(first.pid);
  });

  it('on stop, running invocations see their time run out and finish; later ones are refused', async () => {
    const p = start(1);
    await p.warm();
    const [pid] = p.pids();
    const running = call(p, { untilTimeUp: true });
    await new Promise((r) => setTimeout(r, 100));
    await p.stop(5_000);
    await expect(running).resolves.toMatchObject({ remainingMs: 0 });
    expect(p.pids()).toEqual([]);
    expect(() => process.kill(pid!, 0)).toThrow();
    await expect(call(p, {})).rejects.toThrow(/stopping/);
  });
});
