// Logs and metrics as a handler writes them: the keys each line carries, errors with their cause,
// and the delivery worker's metrics flushed while it runs, not only at its end.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import middy from '@middy/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { observe } from '../../functions/lib/observe';
import { deliveryMetrics } from '../../functions/lib/observe-delivery';
import { wsErrors } from '../../functions/lib/middleware';
import { lambdaContext } from '../../local/lambda-context';
import { createLogger } from '../../shared/logger';
import { Metric } from '../../shared/observability/names';
import { METRICS_FILE_ENV, resetTelemetry, telemetry } from '../../shared/observability/telemetry';

/** Every JSON line written to stdout and stderr while `run` runs. */
async function linesOf(run: () => Promise<unknown>): Promise<Record<string, any>[]> {
  const written: string[] = [];
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    await run();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return written
    .flatMap((w) => w.split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

const wsEvent = (connectionId: string, eventId: string) => ({
  requestContext: {
    routeKey: 'publish',
    connectionId,
    eventType: 'MESSAGE' as const,
    authorizer: { eventId, role: 'reporter' },
  },
  body: JSON.stringify({ action: 'publish', clientId: 'c1', text: 'hi' }),
});

beforeEach(() => {
  vi.stubEnv('LIVECAST_LOG_LEVEL', 'info');
  // As Lambda sets it for an on-demand environment: Powertools counts a cold start only then.
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  resetTelemetry();
});
afterEach(() => {
  vi.unstubAllEnvs();
  resetTelemetry();
});

describe('log lines', () => {
  it('carry the request id, function, cold start and the eventId / connectionId of the invocation, cleared after it', async () => {
    const log = createLogger('info');
    const handler = middy(async () => {
      log.info('inside', { n: 1 });
      return { statusCode: 200 };
    }).use(observe());
    const first = lambdaContext('livecast-test-WsPublish');
    const second = lambdaContext('livecast-test-WsPublish');
    const lines = await linesOf(async () => {
      await handler(wsEvent('conn-1', 'event-1'), first);
      // An HTTP route: the eventId from the path, and no connection at all.
      await handler({ routeKey: 'GET /events/{eventId}', pathParameters: { eventId: 'event-2' } }, second);
    });
    const inside = lines.filter((l) => l.message === 'inside');
    expect(inside).toHaveLength(2);
    expect(inside[0]).toMatchObject({
      level: 'INFO',
      service: 'livecast',
      stage: 'local',
      function_request_id: first.awsRequestId,
      function_name: 'livecast-test-WsPublish',
      cold_start: true,
      eventId: 'event-1',
      connectionId: 'conn-1',
      n: 1,
    });
    expect(inside[1]).toMatchObject({
      function_request_id: second.awsRequestId,
      cold_start: false,
      eventId: 'event-2',
    });
    expect(inside[1]).not.toHaveProperty('connectionId');
  });

  it('of a failed request carry the error structured, its cause included, with the invocation keys', async () => {
    const handler = middy(async () => {
      throw new Error('commit failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    })
      .use(observe())
      .use(wsErrors({ logger: () => createLogger('info') }));
    const lines = await linesOf(async () => {
      const res = (await handler(wsEvent('conn-9', 'event-9'), lambdaContext('livecast-test-WsPublish'))) as {
        body: string;
      };
      expect(JSON.parse(res.body)).toMatchObject({ type: 'error', code: 'internal' });
    });
    const failed = lines.find((l) => l.message === 'request failed');
    expect(failed).toMatchObject({
      level: 'ERROR',
      eventId: 'event-9',
      connectionId: 'conn-9',
      route: 'publish',
      error: {
        name: 'Error',
        message: 'commit failed',
        cause: { name: 'Error', message: 'socket hang up', code: 'ECONNRESET' },
      },
    });
    expect(failed?.error.stack).toContain('commit failed');
  });

  it('stay quiet at the configured level', async () => {
    vi.stubEnv('LIVECAST_LOG_LEVEL', 'silent');
    resetTelemetry();
    const log = createLogger('silent');
    const handler = middy(async () => log.error('not shown')).use(observe());
    // Twice: Powertools resets the level at each invocation after the first.
    const lines = await linesOf(async () => {
      await handler(wsEvent('c', 'e'), lambdaContext('f'));
      await handler(wsEvent('c', 'e'), lambdaContext('f'));
    });
    expect(lines).toEqual([]);
  });
});

describe('delivery metrics', () => {
  it('are flushed every minute while the worker runs, with a lag value per post carrying an update', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'livecast-obs-')), 'metrics.ndjson');
    vi.stubEnv(METRICS_FILE_ENV, file);
    resetTelemetry();
    let now = 1_000_000;
    const observer = deliveryMetrics(telemetry().metrics, () => now, 60_000);
    const update = { bytes: new Uint8Array(), through: 1, committedAt: now - 40 };
    const stats = { bytes: new Uint8Array(), through: 2, statsOnly: true };
    const read = () => {
      try {
        return readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, any>);
      } catch {
        return [];
      }
    };

    observer.posted(update, now);
    observer.throttled();
    now += 30_000;
    observer.posted(stats, now);
    expect(read()).toEqual([]);
    now += 30_000;
    observer.gone();
    const [line] = read();
    expect(line).toMatchObject({
      [Metric.deliveryPosts]: 2,
      [Metric.deliveryStatsOnlyPosts]: 1,
      [Metric.deliveryStatsShare]: 50,
      [Metric.deliveryThrottled]: 1,
      [Metric.deliveryGone]: 1,
      [Metric.deliveryAbandoned]: 0,
      [Metric.deliveryLag]: 40,
      service: 'livecast',
      stage: 'local',
    });
    expect(line?._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Livecast',
      Dimensions: [['service', 'stage']],
    });
    // Counted afresh after a flush; the end of the invocation flushes the rest.
    observer.abandoned();
    observer.flush();
    expect(read()[1]).toMatchObject({ [Metric.deliveryPosts]: 0, [Metric.deliveryAbandoned]: 1 });
    observer.flush();
    expect(read()).toHaveLength(2);
  });
});
