// Photo storage: only functions granted `images` import this (and the S3 client with it).
import { createS3Client } from '../../shared/adapters/aws-clients';
import { S3ImageStorage } from '../../shared/adapters/s3-image-storage';
import type { ImageStorage } from '../../shared/domain/ports';
import { part } from './container';

export const imageStorage = part(({ config }): ImageStorage => {
  if (!config.imagesBucket || config.imagesBaseUrl === undefined) throw new Error('LIVECAST_IMAGES_BUCKET and LIVECAST_IMAGES_BASE_URL must be set for photos');
  return new S3ImageStorage(createS3Client(config), config.imagesBucket, config.imagesBaseUrl);
});
