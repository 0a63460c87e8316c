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
    await expect(call(p, { fail: 'the river is too high' })).rejects.toMatchObject({
      name: 'ProbeError',
      message: 'the river is too high',
    });
    // The environment survives a handler error.
    await expect(call(p, {})).resolves.toMatchObject({ functionName: 'probe' });
  });

  it('spreads concurrent invocations over the environments', async () => {
    const p = start(2);
    await p.warm();
    expect(p.pids()).toHaveLength(2);
    const results = await Promise.all([
      call(p, { sleepMs: 200 }),
      call(p, { sleepMs: 200 }),
      call(p, { sleepMs: 200 }),
      call(p, { sleepMs: 200 }),
    ]);
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

describe('killing environments on purpose (fault injection)', () => {
  it('kill() fails the running invocation with a clear Runtime.ExitError, and a fresh environment replaces the dead one at once', async () => {
    const p = start(1);
    await p.warm();
    const [first] = p.pids();
    const running = call(p, { sleepMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(p.kill()).toBe(first);
    await expect(running).rejects.toMatchObject({
      name: 'Runtime.ExitError',
      message: expect.stringMatching(/killed on purpose/),
    });
    expect(p.killed()).toBe(1);
    // The replacement starts without waiting for the next invocation.
    await expect.poll(() => p.pids().filter((pid) => pid !== first)).toHaveLength(1);
    const [fresh] = p.pids();
    expect(() => process.kill(first!, 0)).toThrow();
    await expect(call(p, {})).resolves.toMatchObject({ pid: fresh });
  });

  it('kill() picks an environment that is running an invocation, or the one named', async () => {
    const p = start(2);
    await p.warm();
    const busy = call(p, { sleepMs: 10_000 });
    busy.catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    const busyPid = p.pids()[0]; // the first environment took the invocation (fewest pending, first in line)
    expect(p.kill()).toBe(busyPid);
    await expect(busy).rejects.toMatchObject({ name: 'Runtime.ExitError' });
    const idle = p.pids().find((pid) => pid !== busyPid)!;
    expect(p.kill(idle)).toBe(idle);
    expect(p.kill(1)).toBeUndefined(); // no such environment: nothing killed
    expect(p.killed()).toBe(2);
  });

  it('an invocation sent right after a kill goes to a fresh environment, not to the dying one', async () => {
    const p = start(1);
    await p.warm();
    const [first] = p.pids();
    const running = call(p, { sleepMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    p.kill();
    // Same tick: the killed child has not been reaped yet.
    const next = call(p, {});
    await expect(running).rejects.toMatchObject({ name: 'Runtime.ExitError' });
    const result = await next;
    expect(result.pid).not.toBe(first);
  });

  it('killEveryMs kills a busy environment every so often; idle ones are left alone', async () => {
    pool = lambdaProcesses({
      module: PROBE,
      functionName: 'probe',
      timeoutMs: 60_000,
      processes: 1,
      killEveryMs: 150,
      seed: 1,
      log: () => {},
    });
    const p = pool;
    await p.warm();
    await new Promise((r) => setTimeout(r, 400));
    expect(p.killed()).toBe(0);
    await expect(call(p, { sleepMs: 10_000 })).rejects.toMatchObject({ name: 'Runtime.ExitError' });
    expect(p.killed()).toBeGreaterThanOrEqual(1);
  });

  it('killEveryMs leaves an environment that is still starting alone, and kills it once it runs the invocation', async () => {
    // Starting takes far longer than 30 ms (the runtime loads tsx and the handler): the old killer
    // killed it before it was ready, again and again, so no environment ever started.
    pool = lambdaProcesses({
      module: PROBE,
      functionName: 'probe',
      timeoutMs: 60_000,
      processes: 1,
      killEveryMs: 30,
      seed: 1,
      log: () => {},
    });
    await expect(call(pool, { sleepMs: 10_000 })).rejects.toMatchObject({
      name: 'Runtime.ExitError',
      message: expect.stringMatching(/killed on purpose/),
    });
  });

  it('refuses a kill interval that is not a positive number', () => {
    expect(() =>
      lambdaProcesses({ module: PROBE, functionName: 'probe', timeoutMs: 1_000, processes: 1, killEveryMs: 0 }),
    ).toThrow(/killEveryMs must be a number of milliseconds > 0/);
  });
});
