// The API stages' throttles, route by route, within the account's 10,000 requests a second.
import type { ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';

/**
 * Throttles per route. API Gateway applies a stage's throttle to each route separately; what all
 * routes share is the account's 10,000 requests/s (burst 5,000), which every API in the account
 * and the @connections posts draw from. The split, so that no route can starve `publish`:
 *
 *   7,000  delivery's @connections posts (LIVECAST_DELIVERY_BUDGET's default, paced by the workers)
 *   2,020  inbound WebSocket frames, every route at its throttle:
 *            reporter:   publish 400 + edit 50 + delete 50 + pin 50             =   550
 *            anonymous:  sync 300 + repost 300 + ping 50 + $default 20           =   670
 *            handshakes: $connect 500 (the account's new-connection limit)
 *                        + $disconnect 300                                       =   800
 *     300  sync's replies: one coalesced post per sync (a history under 32 KB) at sync's 300/s
 *     655  the HTTP API's routes at their throttles (below; POST /viewers at the stage's 25/s)
 *      25  left for routes added later, at their stage's default (WebSocket 20/s, HTTP 25/s)
 *  ------
 * 10,000
 *
 * So even with every anonymous route flooded to its throttle, the account limit is not what
 * refuses a publish, and publish's own 400/s — above every anonymous route's, and a hundred times
 * what several reporters and their outboxes re-sending after a drop send — is its alone. Past a
 * route's throttle API Gateway refuses the frame or request itself (429, no Lambda runs); below it, the per-connection
 * allowances (shared/domain/limits/allowances.ts) stop one flooding socket long before it could
 * spend a route's rate. Bursts are one or two seconds of the rate. test/infra/stacks.test.ts adds
 * the synthesized numbers up again.
 */
export const WS_ROUTE_THROTTLES: Readonly<Record<string, ThrottleSettings>> = {
  publish: { rateLimit: 400, burstLimit: 800 },
  edit: { rateLimit: 50, burstLimit: 100 },
  delete: { rateLimit: 50, burstLimit: 100 },
  pin: { rateLimit: 50, burstLimit: 100 },
  // A reconnect wave is capped by $connect's 500/s, and each new connection syncs once.
  sync: { rateLimit: 300, burstLimit: 500 },
  // A storm: 10,000 reposts within a minute is ~170/s on average.
  repost: { rateLimit: 300, burstLimit: 600 },
  // 10,000 viewers pinging every 4 idle minutes: ~42/s.
  ping: { rateLimit: 50, burstLimit: 100 },
  $default: { rateLimit: 20, burstLimit: 40 },
  $connect: { rateLimit: 500, burstLimit: 500 },
  // Best effort on AWS anyway (a missed one is cleaned by the next post's 410 and by TTL); the burst
  // covers an audience leaving together at the end.
  $disconnect: { rateLimit: 300, burstLimit: 1_000 },
};

/** HTTP routes (the organiser, the replay, pages reading an event, feeds, crawlers): 655/s in all with POST /viewers' 25, see above. */
export const HTTP_ROUTE_THROTTLES: Readonly<Record<string, ThrottleSettings>> = {
  // The organiser creates a handful of events.
  'POST /events': { rateLimit: 10, burstLimit: 20 },
  // The organiser's console: one person paging through the list, rotating a token, redacting.
  'GET /events': { rateLimit: 5, burstLimit: 10 },
  'POST /events/{eventId}/operator-token': { rateLimit: 5, burstLimit: 10 },
  'POST /events/{eventId}/entries/{seq}/redact': { rateLimit: 5, burstLimit: 10 },
  'GET /events/{eventId}': { rateLimit: 100, burstLimit: 200 },
  'GET /events/{eventId}/timeline': { rateLimit: 200, burstLimit: 400 },
  'GET /events/{eventId}/revisions': { rateLimit: 100, burstLimit: 200 },
  // Feed readers poll every few minutes and a shared cache keeps each feed 60 s (FEED_CACHE_CONTROL),
  // so what reaches the API is about one read a minute per cache: 15/s each is 900 such a minute.
  'GET /events/{eventId}/feed.json': { rateLimit: 15, burstLimit: 30 },
  'GET /events/{eventId}/feed.atom': { rateLimit: 15, burstLimit: 30 },
  // Crawlers and link-preview bots, sent by CloudFront and cached there 60 s (SNAPSHOT_CACHE_CONTROL).
  'GET /events/{eventId}/snapshot': { rateLimit: 15, burstLimit: 30 },
  // A read may bring the spike detector up to date (writes): kept below the timeline.
  'GET /events/{eventId}/reposts': { rateLimit: 150, burstLimit: 300 },
  // Unknown paths: 404s only.
  $default: { rateLimit: 10, burstLimit: 20 },
};

/**
 * A stage's `RouteSettings` for the routes it has. CloudFormation refuses settings for a route that
 * does not exist yet, so the stage must also depend on the routes (done by the caller); a line for a
 * route the table does not have is a mistake, not something to skip.
 */
export function routeSettings(
  throttles: Readonly<Record<string, ThrottleSettings>>,
  routeKeys: readonly string[],
  api: string,
) {
  for (const key of Object.keys(throttles)) {
    if (!routeKeys.includes(key))
      throw new Error(`${api} throttle for route '${key}', which shared/routes.ts does not have`);
  }
  return Object.fromEntries(
    routeKeys
      .filter((key) => throttles[key])
      .map((key) => [
        key,
        { ThrottlingRateLimit: throttles[key]!.rateLimit, ThrottlingBurstLimit: throttles[key]!.burstLimit },
      ]),
  );
}
