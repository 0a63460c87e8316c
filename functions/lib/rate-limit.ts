// Per-connection allowances on WebSocket message routes: past one, `rate_limited` and the handler
// never runs; a connection that keeps going is closed through the management API.
import type { MiddlewareObj } from '@middy/core';
import { rateLimited } from '../../shared/domain/errors';
import { allowanceFor } from '../../shared/domain/limits/allowances';
import type { Allowance, Verdict } from '../../shared/domain/limits/rate-limiter';
import type { ConnectionCloser, Logger } from '../../shared/domain/ports';
import type { Role } from '../../shared/domain/protocol';
import { connectionsApi } from './connections-api';
import { container } from './container';
import type { WsEvent, WsResult } from './ws';

export interface RateLimitOptions {
  limiter?: () => { take(key: string, allowance: Allowance): Promise<Verdict> };
  closer?: () => ConnectionCloser;
  allowance?: (routeKey: string, role: Role) => Allowance;
  logger?: () => Logger;
}

const defaults: Required<RateLimitOptions> = {
  limiter: () => container().limiter,
  // The container's management client, built on the first close: most containers never close anyone.
  closer: connectionsApi,
  allowance: allowanceFor,
  logger: () => container().log,
};

/**
 * Counts the frame against `<connectionId>:<routeKey>` before the handler runs. Use it after
 * `wsErrors()`, which turns the refusal into the route response `{"type":"error","code":"rate_limited",
 * "retryAfterMs",…}`.
 */
export function rateLimit(opts: RateLimitOptions = {}): MiddlewareObj<WsEvent, WsResult> {
  const { limiter, closer, allowance, logger } = { ...defaults, ...opts };
  return {
    before: async (request) => {
      const { connectionId, routeKey, authorizer } = request.event.requestContext;
      // The role comes from the $connect authorizer, repeated by API Gateway on every frame.
      const role: Role = authorizer?.role === 'reporter' ? 'reporter' : 'viewer';
      const granted = allowance(routeKey, role);
      let verdict: Verdict;
      try {
        verdict = await limiter().take(`${connectionId}:${routeKey}`, granted);
      } catch (err) {
        // A limit that cannot be counted lets the frame through: the handler's own storage calls meet
        // the same trouble and answer for themselves, and API Gateway's route throttles still hold.
        logger().warn('rate limit not counted; frame let through', {
          route: routeKey,
          error: (err as Error)?.name ?? String(err),
        });
        return;
      }
      if (verdict.ok) return;
      const wait = Math.ceil(verdict.retryAfterMs / 1000);
      const rule = `at most ${granted.limit} ${routeKey} frames per ${granted.windowMs / 1000} s on one connection`;
      if (verdict.close) {
        logger().info('closing a connection that kept sending past its allowance', { route: routeKey, connectionId });
        try {
          await closer().close(connectionId);
        } catch (err) {
          // Best effort: the next refused frame tries again.
          logger().warn('could not close a flooding connection', {
            route: routeKey,
            error: (err as Error)?.name ?? String(err),
          });
        }
        throw rateLimited(`${rule}; this connection kept going and is closed`, verdict.retryAfterMs);
      }
      throw rateLimited(`${rule}; try again in ${wait} s`, verdict.retryAfterMs);
    },
  };
}
