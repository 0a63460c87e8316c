// Publishing an update's photos: each imageId is checked against the bytes storage holds (uploaded
// for this event, an image of an allowed type that decodes) and copied from uploads/ — which a
// lifecycle rule empties of abandoned uploads — to images/, the prefix that is served and kept.
// All are checked before any is copied: a bad one in the list copies nothing.
import { imageSize } from 'image-size';
import { badRequest } from './errors';
import { IMAGE_CONTENT_TYPES, type ImageContentType, imageKey, uploadKey } from './images';
import type { ImageStorage, StoredHead } from './ports';
import type { EntryImage, ImageRef } from './protocol';

/**
 * Read first: enough for the size of any PNG or WebP, and of a JPEG whose metadata comes before its
 * frame header (an untouched camera file may carry a 64 KB EXIF block; the console's re-encoded
 * photos carry none). A JPEG whose header lies further is read whole (≤ 10 MB) rather than refused.
 */
export const HEAD_BYTES = 128 * 1024;

/** image-size's names for the types a photo may have. */
const DECODED_AS: Record<string, ImageContentType> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

interface Checked {
  /** Set when the bytes are still in uploads/ and must be copied. */
  copyFrom?: string;
  to: string;
  contentType: ImageContentType;
  image: EntryImage;
}

export class ImagePublisher {
  constructor(private readonly storage: ImageStorage) {}

  /**
   * The entry's `images` for these refs, in their order, once every photo is stored where it is
   * served. Idempotent: a retry finds them copied already (or copies the same bytes again).
   */
  async publish(eventId: string, refs: readonly ImageRef[]): Promise<EntryImage[]> {
    const checked = await Promise.all(refs.map((ref) => this.check(eventId, ref)));
    await Promise.all(
      checked.map(async (c) => {
        if (c.copyFrom) await this.storage.copy(c.copyFrom, c.to, c.contentType);
      }),
    );
    return checked.map((c) => c.image);
  }

  private async check(eventId: string, ref: ImageRef): Promise<Checked> {
    const from = uploadKey(eventId, ref.imageId);
    const to = imageKey(eventId, ref.imageId);
    let copyFrom: string | undefined = from;
    // Still in uploads/ (the usual case), or published already (a retry after the upload expired,
    // or the same photo in a correction).
    let stored = await this.storage.readHead(from, HEAD_BYTES);
    if (!stored) {
      copyFrom = undefined;
      stored = await this.storage.readHead(to, HEAD_BYTES);
    }
    // An id of another event is looked for under this event's keys only: not found, like one never uploaded.
    if (!stored)
      throw badRequest(
        `image ${ref.imageId} is not stored yet: upload it before publishing (or it belongs to another event)`,
      );
    const contentType = IMAGE_CONTENT_TYPES.find((t) => t === stored.contentType);
    if (!contentType)
      throw badRequest(`image ${ref.imageId} is not a photo (stored as ${stored.contentType ?? 'no content type'})`);
    const size = await this.measure(copyFrom ?? to, stored, ref.imageId);
    if (DECODED_AS[size.type ?? ''] !== contentType) {
      throw badRequest(`image ${ref.imageId} is not a ${contentType.slice('image/'.length).toUpperCase()} image`);
    }
    // EXIF orientations 5 to 8 turn the picture a quarter: browsers show it turned, so its box is too.
    const turned = size.orientation !== undefined && size.orientation >= 5;
    const image: EntryImage = {
      url: await this.storage.publicUrl(to),
      width: turned ? size.height : size.width,
      height: turned ? size.width : size.height,
      ...(ref.alt !== undefined ? { alt: ref.alt } : {}),
    };
    return { ...(copyFrom ? { copyFrom } : {}), to, contentType, image };
  }

  private async measure(
    key: string,
    stored: StoredHead,
    imageId: string,
  ): Promise<{ width: number; height: number; type?: string; orientation?: number }> {
    let head = stored;
    for (;;) {
      try {
        const size = imageSize(head.head);
        if (size.width > 0 && size.height > 0) return size;
      } catch {
        // Undecodable from these bytes: read on if there are more, else refuse below.
      }
      if (head.head.byteLength >= head.size) throw badRequest(`image ${imageId} cannot be decoded as an image`);
      const whole = await this.storage.readHead(key, head.size);
      if (!whole) throw badRequest(`image ${imageId} is not stored any more`);
      head = { ...whole, size: whole.head.byteLength };
    }
  }
}
