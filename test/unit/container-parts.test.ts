// The container's parts: built on first use, once per container, anew after resetContainer; a part
// that needs a setting fails the call that needs it, never the import or the handler that only picks it up.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { tableNames } from '../../local/create-tables';
import { tableEnv } from '../../shared/config';
import { connectionsApi } from '../../functions/lib/connections-api';
import { container, part, resetContainer } from '../../functions/lib/container';
import { live } from '../../functions/lib/live';
import { workers } from '../../functions/lib/workers';

beforeEach(() => {
  for (const [name, value] of Object.entries(tableEnv(tableNames('parts')))) vi.stubEnv(name, value);
  vi.stubEnv('LIVECAST_CONNECTIONS_ENDPOINT', '');
  vi.stubEnv('LIVECAST_WORKER_FUNCTION', '');
  vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', '');
  resetContainer();
});
afterEach(() => {
  vi.unstubAllEnvs();
  resetContainer();
});

it('builds a part on first use, once per container, and anew for the next container', () => {
  const make = vi.fn((c: ReturnType<typeof container>) => ({ table: c.config.tables.events }));
  const thing = part(make);
  expect(make).not.toHaveBeenCalled();
  const first = thing();
  expect(thing()).toBe(first);
  expect(make).toHaveBeenCalledTimes(1);
  resetContainer();
  expect(thing()).not.toBe(first);
  expect(make).toHaveBeenCalledTimes(2);
});

it('gives the live service without a management API endpoint: a publish never posts, only a sync does', () => {
  expect(() => live()).not.toThrow();
  expect(() => connectionsApi()).toThrow('LIVECAST_CONNECTIONS_ENDPOINT is not set');
});

it('hands out the worker starter without a worker function; starting one says what is missing', () => {
  const starter = workers();
  expect(() => starter.start('evt', 0)).toThrow('LIVECAST_WORKER_FUNCTION is not set');
});
