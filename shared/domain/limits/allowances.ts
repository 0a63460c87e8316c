// How much each connection may send on each WebSocket route before it is told `rate_limited`, and
// when it is closed for ignoring that. One place, so the numbers can be read against real use.
import type { Role } from '../protocol';
import type { Allowance } from './rate-limiter';

const MINUTE = 60_000;

/**
 * Per connection and route (`<connectionId>:<route>`), in fixed windows (see RateLimiter: a caller
 * can at most double an allowance across a window's edge, so each `limit` is what real use needs,
 * not half of it). A new connection starts with a whole allowance: reconnecting is the way back
 * for a client that was closed, and it costs it a handshake (500/s for the whole account).
 *
 * `closeAfter` counts every frame in the window, refused ones included: a client that heeds
 * `retryAfterMs` never gets near it; one that ignores it is closed once it has sent that many.
 */
export const ALLOWANCES = {
  /**
   * The live page syncs once per connection, and again 1–3 s later only when a catch-up was cut
   * short: 6 a minute covers a sync and five retries of it. Each sync pushes history through the
   * @connections budget every viewer shares, which is why it is the tightest.
   */
  sync: { limit: 6, windowMs: MINUTE, closeAfter: 24 },
  /**
   * The live page pings after 4 idle minutes (API Gateway drops a socket idle for 10); other
   * clients check a connection more eagerly (a script pinging every few seconds after an error, to
   * see the socket still works). A pong is the cheapest answer there is (no storage read): 20 a
   * minute, still a fiftieth of the 1,000-ping flood of issue 11.
   */
  ping: { limit: 20, windowMs: MINUTE, closeAfter: 45 },
  /** A person reposts a few entries a minute, a quick thumb in a storm perhaps one a second for a while: 20 a minute. */
  repost: { limit: 20, windowMs: MINUTE, closeAfter: 40 },
  /** Frames no route claims (not JSON, unknown action): a client bug or a newer client, a few at most. */
  $default: { limit: 10, windowMs: MINUTE, closeAfter: 30 },
  /**
   * The reporter's publish, edit, delete and pin, each: a fast reporter sends a few a second, and
   * the console's outbox re-sends everything unacked after a drop — dozens within a few seconds,
   * on the new connection (a fresh allowance). 100 per 10 s per route is ten a second sustained,
   * 200 at once across a window's edge: far above a person, still a ceiling for a runaway script
   * with a valid token (each write reaches every viewer). Never closed: dropping the reporter would
   * cost more than its frames, and its outbox would only reconnect.
   */
  reporterWrite: { limit: 100, windowMs: 10_000 },
  /** publish/edit/delete/pin from a viewer: always refused (`forbidden`); the pages never send them. */
  viewerWrite: { limit: 10, windowMs: MINUTE, closeAfter: 30 },
} as const satisfies Record<string, Allowance>;

/**
 * What a `sync` reply may cost in @connections posts (each a message of up to 32 KB), on top of
 * the count of syncs above: a count alone let a flooder pull a 1.2 MB history (~40 posts) six
 * times a minute per connection, and again on every new connection
 * (`npm run bench -- abuse`). Per connection, one full v1 catch-up of a long event a minute (a page
 * syncs a gap: one or two posts). Per source address (IPv4 /32, IPv6 /64) the budget is
 * configuration (`LIVECAST_SYNC_POSTS_PER_ADDRESS`, default 6,000 a minute: 1% of the account's
 * 10,000 posts/s): what a reconnecting script cannot escape by opening new connections, and what
 * still lets a venue's Wi-Fi address sync the gaps of thousands of phones in a minute.
 */
export const SYNC_POSTS_PER_CONNECTION: Allowance = { limit: 60, windowMs: MINUTE };
export const syncPostsPerAddress = (limit: number): Allowance => ({ limit, windowMs: MINUTE });

const WRITES: ReadonlySet<string> = new Set(['publish', 'edit', 'delete', 'pin']);

/**
 * The allowance of `role` on the WebSocket route `routeKey`. The reporter is limited too, but only
 * on its writes does it get more than a viewer: its sync, ping and repost are a viewer's. A route
 * not named here (one added later) gets `$default`'s until it is given its own.
 */
export function allowanceFor(routeKey: string, role: Role): Allowance {
  if (WRITES.has(routeKey)) return role === 'reporter' ? ALLOWANCES.reporterWrite : ALLOWANCES.viewerWrite;
  switch (routeKey) {
    case 'sync':
      return ALLOWANCES.sync;
    case 'ping':
      return ALLOWANCES.ping;
    case 'repost':
      return ALLOWANCES.repost;
    default:
      return ALLOWANCES.$default;
  }
}
