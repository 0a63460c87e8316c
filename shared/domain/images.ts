// Photos: what a reporter may upload, where each upload and each published image lives in storage.
import { randomBytes } from 'node:crypto';
import * as z from 'zod';

/** The content types a photo may have: what every browser shows and the console produces. */
export const IMAGE_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export type ImageContentType = (typeof IMAGE_CONTENT_TYPES)[number];

/** PROTOCOL v1.1: at most 10 MB a photo (the console shrinks them to far less before upload). */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

/** How long a presigned upload stays usable: long enough for a slow phone connection, short enough that a leaked one is soon useless. */
export const UPLOAD_EXPIRES_SECONDS = 15 * 60;

/** Uploads wait here until an update publishes them; a lifecycle rule removes the abandoned ones. */
export const UPLOADS_PREFIX = 'uploads/';
/** Published photos: the only prefix the CDN serves. */
export const IMAGES_PREFIX = 'images/';

export const imageUploadBody = z.strictObject({
  contentType: z.enum(IMAGE_CONTENT_TYPES, { error: `contentType must be one of ${IMAGE_CONTENT_TYPES.join(', ')}` }),
  bytes: z
    .number({ error: 'bytes must be a whole number of bytes' })
    .int('bytes must be a whole number of bytes')
    .min(1, 'bytes must be at least 1')
    .max(MAX_IMAGE_BYTES, `a photo may have at most ${MAX_IMAGE_BYTES} bytes (10 MB)`),
});
export type ImageUploadBody = z.infer<typeof imageUploadBody>;

/** 128 random bits, URL-safe: an id can be neither guessed nor enumerated. */
export const newImageId = (): string => randomBytes(16).toString('base64url');
export { imageIdSchema } from './protocol';

/** Keys are per event: an image id of another event is not found under this one. */
export const uploadKey = (eventId: string, imageId: string): string => `${UPLOADS_PREFIX}${eventId}/${imageId}`;
export const imageKey = (eventId: string, imageId: string): string => `${IMAGES_PREFIX}${eventId}/${imageId}`;

export interface PresignedUpload {
  url: string;
  method: 'POST';
  /** Form fields to send before the file (named `file`, last). */
  fields: Record<string, string>;
}
