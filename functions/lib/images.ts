// Photo storage: only functions granted `images` import this (and the S3 and SSM clients with it).
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
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
 * parameter, read through Powertools Parameters at the first photo and cached for a day (the
 * distribution's domain does not change while it exists); a failed read is not cached, so the next
 * photo asks again. Photos that arrive together on a cold container share one read.
 */
function baseUrl(config: Config): () => Promise<string> {
  const fixed = config.imagesBaseUrl;
  if (fixed !== undefined) return () => Promise.resolve(fixed);
  const name = config.imagesBaseUrlParameter;
  if (!name) throw new Error('LIVECAST_IMAGES_BASE_URL or LIVECAST_IMAGES_BASE_URL_PARAMETER must be set for photos');
  return ssmBaseUrl(createSsmClient(config), name);
}

export function ssmBaseUrl(
  client: SSMClient,
  name: string,
  maxAgeSeconds = BASE_URL_MAX_AGE_SECONDS,
): () => Promise<string> {
  const ssm = new SSMProvider({ awsSdkV3Client: client });
  let read: Promise<string> | undefined;
  return () =>
    (read ??= ssm
      .get(name, { maxAge: maxAgeSeconds })
      .then((value) => {
        if (typeof value !== 'string' || !/^https:\/\/[^\s/]+$/.test(value))
          throw new Error(`SSM parameter ${name} holds no https:// origin`);
        return value;
      })
      .finally(() => {
        read = undefined;
      }));
}

const BASE_URL_MAX_AGE_SECONDS = 86_400;
