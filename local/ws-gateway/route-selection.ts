// API Gateway's route selection on `$request.body.action`, for one incoming frame.
import { type WsRoute, isRecord } from './types';

/**
 * Only a JSON object with a string action naming a configured non-$ route selects it; everything
 * else falls to $default, or to nothing (AWS then answers Forbidden).
 */
export function selectRoute(routes: ReadonlyMap<string, WsRoute>, body: string, isBinary: boolean): string | undefined {
  if (!isBinary && body.charCodeAt(skipSpace(body)) === 0x7b /* { */) {
    try {
      const parsed: unknown = JSON.parse(body);
      const action = isRecord(parsed) ? parsed.action : undefined;
      if (typeof action === 'string' && !action.startsWith('$') && routes.has(action)) return action;
    } catch {
      // not JSON: $default
    }
  }
  return routes.has('$default') ? '$default' : undefined;
}

function skipSpace(text: string): number {
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i += 1;
  return i;
}
