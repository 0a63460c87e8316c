// POST /events/{eventId}/images: the reporter asks to upload a photo and gets a presigned POST that
// storage itself holds to (content type, size, 15 minutes); the bytes go straight to storage, never
// through a function. The `imageId` is then published with an update.
import middy from '@middy/core';
import { addressKey } from '../shared/domain/reposts/sources';
import { notFound, rateLimited, unauthorized } from '../shared/domain/errors';
import { imageKey, imageUploadBody, newImageId, UPLOAD_EXPIRES_SECONDS, uploadKey } from '../shared/domain/images';
import { eventIdSchema } from '../shared/domain/protocol';
import { container } from './lib/container';
import { bearer, type HttpEvent, type HttpResult, json, parseBody, pathParam } from './lib/http';
import { imageStorage } from './lib/images';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

const MINUTE = 60_000;
const DAY = 86_400_000;

async function main(event: HttpEvent): Promise<HttpResult> {
  const c = container();
  // Counted before anything is read: a script guessing tokens or spraying events pays from its first call.
  await take(
    `image-uploads:address:${addressKey(event.requestContext.http.sourceIp)}`,
    c.config.imageUploadsPerAddress,
    MINUTE,
    'from this address this minute',
  );
  const eventId = eventIdSchema.safeParse(pathParam(event, 'eventId'));
  // `Authorization: Bearer <operatorToken>` (PROTOCOL v1.1).
  const token = bearer(event, { name: 'operator token', placeholder: 'token' });
  if (!eventId.success) throw notFound('no such event');
  const body = parseBody(imageUploadBody, event);
  // The event's current token: a rotated one is refused here at once, as at the handshake.
  const { role } = await c.events.admit(eventId.data, token);
  if (role !== 'reporter') throw unauthorized('the operator token does not match this event');
  // Per event: what the token may let into the bucket (shared/config.ts imageUploadsPer*).
  await take(
    `image-uploads:minute:${eventId.data}`,
    c.config.imageUploadsPerMinute,
    MINUTE,
    'for this event this minute',
  );
  await take(`image-uploads:day:${eventId.data}`, c.config.imageUploadsPerDay, DAY, 'for this event today');

  const storage = imageStorage();
  const imageId = newImageId();
  const upload = await storage.presignUpload(
    uploadKey(eventId.data, imageId),
    body.contentType,
    body.bytes,
    UPLOAD_EXPIRES_SECONDS,
  );
  return {
    ...json(201, { imageId, upload, url: await storage.publicUrl(imageKey(eventId.data, imageId)) }),
    // A presigned request is the caller's alone.
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  };

  async function take(key: string, limit: number, windowMs: number, what: string): Promise<void> {
    const verdict = await c.limiter.take(key, { limit, windowMs });
    if (!verdict.ok) throw rateLimited(`too many photo uploads ${what}; try again later`, verdict.retryAfterMs);
  }
}

export const handler = middy(main).use(observe()).use(httpErrors());
