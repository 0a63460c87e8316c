// Photos in S3: presigned POSTs whose policy makes S3 enforce the content type and the size.
import { CopyObjectCommand, GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import type { PresignedUpload } from '../domain/images';
import type { ImageStorage, StoredHead } from '../domain/ports';

export class S3ImageStorage implements ImageStorage {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    /** Where `images/…` is served, no trailing slash ('' : relative to the HTTP API's origin). */
    private readonly baseUrl: () => Promise<string>,
  ) {}

  async presignUpload(
    key: string,
    contentType: string,
    maxBytes: number,
    expiresSeconds: number,
  ): Promise<PresignedUpload> {
    const { url, fields } = await createPresignedPost(this.s3, {
      Bucket: this.bucket,
      Key: key,
      // S3 refuses the POST (400 EntityTooLarge, 403 on the type) whatever the client claimed here.
      Conditions: [
        ['content-length-range', 1, maxBytes],
        ['eq', '$Content-Type', contentType],
      ],
      Fields: { 'Content-Type': contentType },
      Expires: expiresSeconds,
    });
    return { url, method: 'POST', fields };
  }

  async readHead(key: string, bytes: number): Promise<StoredHead | undefined> {
    try {
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }),
      );
      const head = await out.Body!.transformToByteArray();
      // "bytes 0-131071/2345678": the whole size after the slash; no Content-Range when the object was smaller.
      const total = Number(out.ContentRange?.split('/')[1] ?? head.byteLength);
      return { contentType: out.ContentType, size: Number.isFinite(total) ? total : head.byteLength, head };
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
      // A ranged read of an empty object: nothing there to show.
      if ((err as { name?: string }).name === 'InvalidRange')
        return { contentType: undefined, size: 0, head: new Uint8Array() };
      throw err;
    }
  }

  async copy(from: string, to: string, contentType: string): Promise<void> {
    await this.s3.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: to,
        CopySource: `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
        // Served from the CDN: an image key is never reused, so its bytes may be cached for good.
        MetadataDirective: 'REPLACE',
        ContentType: contentType,
        CacheControl: 'public, max-age=31536000, immutable',
      }),
    );
  }

  async publicUrl(key: string): Promise<string> {
    return `${await this.baseUrl()}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }
}
