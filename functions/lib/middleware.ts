// The two error middlewares: every failure becomes a protocol error (frame or HTTP), never a stack trace.
import type { MiddlewareObj } from '@middy/core';
import { publicError } from '../../shared/domain/errors';
import type { Logger } from '../../shared/domain/ports';
import { container } from './container';
import { clientIdOf, type WsEvent, type WsResult } from './ws';
import type { HttpEvent, HttpResult } from './http';

interface ErrorOptions {
  logger?: () => Logger;
}

const defaults: Required<ErrorOptions> = { logger: () => container().log };

function logFault(log: Logger, err: unknown, where: Record<string, unknown>) {
  const { code } = publicError(err);
  if (code === 'internal') log.error('request failed', { ...where, error: err instanceof Error ? err.stack : String(err) });
  else log.debug('request refused', { ...where, code });
}

/** A WebSocket route's error: an `error` frame back to the caller as the route response. */
export function wsErrors(opts: ErrorOptions = {}): MiddlewareObj<WsEvent, WsResult> {
  const { logger } = { ...defaults, ...opts };
  return {
    onError: (request) => {
      const { code, message } = publicError(request.error);
      logFault(logger(), request.error, { route: request.event.requestContext.routeKey });
      const clientId = clientIdOf(request.event.body);
      request.response = {
        statusCode: 200,
        body: JSON.stringify({ type: 'error', code, message, ...(clientId ? { clientId } : {}) }),
      };
    },
  };
}

/** An HTTP route's error: `{"error": {"code", "message"}}` with the code's status. */
export function httpErrors(opts: ErrorOptions = {}): MiddlewareObj<HttpEvent, HttpResult> {
  const { logger } = { ...defaults, ...opts };
  return {
    onError: (request) => {
      const { code, message, status } = publicError(request.error);
      logFault(logger(), request.error, { route: request.event.routeKey });
      request.response = {
        statusCode: status,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ error: { code, message } }),
      };
    },
  };
}
