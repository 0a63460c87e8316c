// The two error middlewares: every failure becomes a protocol error (frame or HTTP), never a stack trace.
import type { MiddlewareObj } from '@middy/core';
import { type PublicError, publicError, rateLimited } from '../../shared/domain/errors';
import type { Logger } from '../../shared/domain/ports';
import { container } from './container';
import { clientIdOf, type WsEvent, type WsResult } from './ws';
import type { HttpEvent, HttpResult } from './http';

interface ErrorOptions {
  logger?: () => Logger;
}

const defaults: Required<ErrorOptions> = { logger: () => container().log };

/**
 * DynamoDB's overload answers, by the name SDK v3 gives them. One that reaches a handler has already
 * survived the SDK's retries (five tries, backoff from 500 ms): the table is busy, not broken, so
 * the client is told to come back rather than that something failed.
 */
const THROTTLING = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);

/** How long a client told "busy" waits: about the SDK's own backoff step, so it does not come back into the same throttle. */
export const BUSY_RETRY_AFTER_MS = 1_000;

/** A throttled transaction is cancelled with a `ThrottlingError` reason on the item that was throttled. */
function isThrottling(err: unknown): boolean {
  const { name, CancellationReasons } = (err ?? {}) as {
    name?: unknown;
    CancellationReasons?: Array<{ Code?: string } | undefined>;
  };
  if (typeof name !== 'string') return false;
  if (THROTTLING.has(name)) return true;
  return (
    name === 'TransactionCanceledException' && (CancellationReasons ?? []).some((r) => r?.Code === 'ThrottlingError')
  );
}

/** What the client is told, throttling included; logs faults as errors and overload as a warning. */
function describeFailure(log: Logger, err: unknown, where: Record<string, unknown>): PublicError {
  if (isThrottling(err)) {
    log.warn('storage throttled: answered rate_limited', { ...where, error: (err as { name: string }).name });
    return publicError(rateLimited('the service is busy; try again in a moment', BUSY_RETRY_AFTER_MS));
  }
  const described = publicError(err);
  // The Error itself, not its stack as text: the logger writes name, message, stack and `cause` as fields.
  if (described.code === 'internal')
    log.error('request failed', { ...where, error: err instanceof Error ? err : String(err) });
  else log.debug('request refused', { ...where, code: described.code });
  return described;
}

/** A WebSocket route's error: an `error` frame back to the caller as the route response. */
export function wsErrors(opts: ErrorOptions = {}): MiddlewareObj<WsEvent, WsResult> {
  const { logger } = { ...defaults, ...opts };
  return {
    onError: (request) => {
      const { code, message, retryAfterMs } = describeFailure(logger(), request.error, {
        route: request.event.requestContext.routeKey,
      });
      const clientId = clientIdOf(request.event.body);
      request.response = {
        statusCode: 200,
        body: JSON.stringify({
          type: 'error',
          code,
          message,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          ...(clientId ? { clientId } : {}),
        }),
      };
    },
  };
}

/**
 * An HTTP route's error: `{"error": {"code", "message", "retryAfterMs"?}}` with the code's status,
 * and `Retry-After` (whole seconds, rounded up, as RFC 9110 wants) when there is a retryAfterMs.
 */
export function httpErrors(opts: ErrorOptions = {}): MiddlewareObj<HttpEvent, HttpResult> {
  const { logger } = { ...defaults, ...opts };
  return {
    onError: (request) => {
      const { code, message, status, retryAfterMs } = describeFailure(logger(), request.error, {
        route: request.event.routeKey,
      });
      request.response = {
        statusCode: status,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          ...(retryAfterMs !== undefined ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } : {}),
        },
        body: JSON.stringify({ error: { code, message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) } }),
      };
    },
  };
}
