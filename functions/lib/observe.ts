// One middleware per handler for logs, metrics and traces (Powertools), used first so its `after`
// and `onError` run last: the error middlewares' log lines still carry the invocation's keys.
import type { MiddlewareObj, Request } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { Metric } from '../../shared/observability/names';
import { type Telemetry, telemetry } from '../../shared/observability/telemetry';
import { requestKeys } from './observe-keys';

export interface ObserveOptions {
  /** Flush the metrics the invocation stored, at its end (Powertools `logMetrics`). */
  metrics?: boolean;
  /** An X-Ray segment around the handler: `tracing()` of functions/lib/observe-trace.ts, in the functions infra traces. */
  trace?: () => Part;
  /**
   * A WebSocket route whose response is the ack: AckLatency, from API Gateway's receipt of the frame
   * (`requestTimeEpoch`, else the handler's start) to the response, for answers that are not errors.
   */
  ackLatency?: boolean;
}

/**
 * Any handler's request: observe() reads only the event's request time and hands the request to
 * Powertools' middlewares, which take any event and answer.
 */
type AnyRequest = Request<unknown, unknown>;
/** One of observe()'s parts (Powertools' logger, tracer and metrics middlewares). */
export type Part = MiddlewareObj<unknown, unknown>;

export function observe(opts: ObserveOptions = {}): Part {
  // Built per Telemetry (the local stage builds a new one when it starts), not at import.
  let builtFor: Telemetry | undefined;
  let parts: Part[] = [];
  const partsOf = (t: Telemetry): Part[] => {
    if (builtFor !== t) {
      builtFor = t;
      parts = [
        injectLambdaContext(t.logger, { resetKeys: true }),
        ...(opts.trace ? [opts.trace()] : []),
        ...(opts.metrics || opts.ackLatency ? [logMetrics(t.metrics)] : []),
      ];
    }
    return parts;
  };
  const startedAt = new WeakMap<object, number>();

  return {
    before: async (request: AnyRequest) => {
      const t = telemetry();
      // A previous invocation that ended early (a middleware's early response) left its keys behind.
      t.logger.resetKeys();
      for (const p of partsOf(t)) await p.before?.(request);
      t.logger.appendKeys(requestKeys(request.event));
      startedAt.set(request, Date.now());
    },
    after: async (request: AnyRequest) => {
      const t = telemetry();
      if (opts.ackLatency) {
        const received = Number(
          (request.event as { requestContext?: { requestTimeEpoch?: unknown } })?.requestContext?.requestTimeEpoch,
        );
        const from = Number.isFinite(received) && received > 0 ? received : (startedAt.get(request) ?? Date.now());
        t.metrics.addMetric(Metric.ackLatency, MetricUnit.Milliseconds, Math.max(0, Date.now() - from));
      }
      for (const p of [...partsOf(t)].reverse()) await p.after?.(request);
    },
    onError: async (request: AnyRequest) => {
      const t = telemetry();
      for (const p of [...partsOf(t)].reverse()) await p.onError?.(request);
    },
  };
}
