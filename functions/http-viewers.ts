// POST /viewers: an anonymous viewer id, signed, issued under a limit per source address. A page
// sends the one it holds (`{"viewerId"}`): a valid one comes back as it is, costing nothing; an
// unknown, forged or nearly expired one is replaced by a new one, which counts against the limit.
import middy, { type MiddlewareObj } from '@middy/core';
import * as z from 'zod';
import { viewerSecret, type ViewerSecret } from '../shared/adapters/viewer-secret';
import { addressKey } from '../shared/domain/reposts/sources';
import { issueViewerId, VIEWER_ID_MAX_AGE_MS, verifyViewerId } from '../shared/domain/viewer-id';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, parseBody } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

const body = z.object({ viewerId: z.string().max(256).optional() });

/** An id with less than this left is replaced, so a page never connects with one about to expire. */
const RENEW_WITHIN_MS = 7 * 24 * 60 * 60 * 1000;

let secret: ViewerSecret | undefined;

async function main(event: HttpEvent): Promise<HttpResult> {
  // An empty body is a first visit; anything else must be the JSON object.
  const held = event.body ? parseBody(body, event).viewerId : undefined;
  const c = container();
  const key = await (secret ??= viewerSecret(c.config)).get();
  const now = Date.now();
  const valid = held === undefined ? undefined : verifyViewerId(key, held, now);
  if (valid && valid.issuedAt + VIEWER_ID_MAX_AGE_MS - now > RENEW_WITHIN_MS) {
    return withHeaders(
      json(200, { viewerId: valid.token, expiresAt: new Date(valid.issuedAt + VIEWER_ID_MAX_AGE_MS).toISOString() }),
    );
  }
  // Per address (IPv4 /32, IPv6 /64: shared/domain/reposts/sources.ts): a minute's allowance for a
  // crowd arriving at once, a day's for the most one address may ever count as.
  const address = addressKey(event.requestContext.http.sourceIp);
  for (const [window, limit, windowMs] of [
    ['minute', c.config.viewerIdsPerMinute, 60_000],
    ['day', c.config.viewerIdsPerDay, 86_400_000],
  ] as const) {
    const verdict = await c.limiter.take(`viewer-ids:${window}:${address}`, { limit, windowMs });
    if (!verdict.ok) {
      const res = json(429, {
        error: {
          code: 'rate_limited',
          message: `too many viewer ids from this address this ${window}; try again later`,
          retryAfterMs: verdict.retryAfterMs,
        },
      });
      return withHeaders({
        ...res,
        headers: { ...res.headers, 'retry-after': String(Math.ceil(verdict.retryAfterMs / 1000)) },
      });
    }
  }
  const issued = issueViewerId(key, now);
  return withHeaders(
    json(201, { viewerId: issued.token, expiresAt: new Date(issued.issuedAt + VIEWER_ID_MAX_AGE_MS).toISOString() }),
  );
}

/** Each answer is someone's own id: never cached by anyone. */
const withHeaders = (res: HttpResult): HttpResult => ({
  ...res,
  headers: { ...res.headers, 'cache-control': 'no-store' },
});

const noStoreOnError = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: (request) => {
    if (request.response && typeof request.response === 'object') request.response = withHeaders(request.response);
  },
});

export const handler = middy(main).use(observe()).use(noStoreOnError()).use(httpErrors());
