// Photos in S3: presigned POSTs whose policy makes S3 enforce the content type and the size.
import { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import type { PresignedUpload } from '../domain/images';
import type { ImageStorage } from '../domain/ports';

export class S3ImageStorage implements ImageStorage {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    /** Where `images/…` is served, no trailing slash. */
    private readonly baseUrl: string,
  ) {}

  async presignUpload(key: string, contentType: string, maxBytes: number, expiresSeconds: number): Promise<PresignedUpload> {
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

  publicUrl(key: string): string {
    return `${this.baseUrl}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }
}
