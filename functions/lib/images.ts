// Photo storage: only functions granted `images` import this (and the S3 and SSM clients with it).
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { createS3Client, createSsmClient } from '../../shared/adapters/aws-clients';
import { S3ImageStorage } from '../../shared/adapters/s3-image-storage';
import type { ImageStorage } from '../../shared/domain/ports';
import type { Config } from '../../shared/config';
import { part } from './container';

export const imageStorage = part(({ config }): ImageStorage => {
  if (!config.imagesBucket) throw new Error('LIVECAST_IMAGES_BUCKET must be set for photos');
  return new S3ImageStorage(createS3Client(config), config.imagesBucket, baseUrl(config));
});

/**
 * Where images/ is served: the setting itself (local: `/`), or deployed the Web stack's SSM
 * parameter, read at the first photo and kept for the container's life (the distribution's domain
 * does not change while it exists); a failed read is tried again at the next photo.
 */
function baseUrl(config: Config): () => Promise<string> {
  const fixed = config.imagesBaseUrl;
  if (fixed !== undefined) return () => Promise.resolve(fixed);
  const name = config.imagesBaseUrlParameter;
  if (!name) throw new Error('LIVECAST_IMAGES_BASE_URL or LIVECAST_IMAGES_BASE_URL_PARAMETER must be set for photos');
  let read: Promise<string> | undefined;
  return () =>
    (read ??= createSsmClient(config)
      .send(new GetParameterCommand({ Name: name }))
      .then((out) => {
        const value = out.Parameter?.Value;
        if (!value || !/^https:\/\/[^\s/]+$/.test(value)) throw new Error(`SSM parameter ${name} holds no https:// origin`);
        return value;
      })
      .catch((err: unknown) => {
        read = undefined;
        throw err;
      }));
}
