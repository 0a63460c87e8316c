// The key viewer ids are signed with: from the environment locally, from Secrets Manager when deployed.
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../config';
import { createSecretsClient } from './aws-clients';

export interface ViewerSecret {
  get(): Promise<string>;
}

/**
 * Read once per container, on first use, then kept (a failed read is tried again next time). A
 * rotation takes effect as containers recycle, and refuses every id signed with the old key: pages
 * then ask for a new one (POST /viewers with the old id answers a fresh one).
 */
export function viewerSecret(config: Config): ViewerSecret {
  if (config.viewerSecret) {
    const value = config.viewerSecret;
    return { get: async () => value };
  }
  const arn = config.viewerSecretArn;
  if (!arn)
    return {
      get: () =>
        Promise.reject(
          new Error('no viewer id secret configured (LIVECAST_VIEWER_SECRET or LIVECAST_VIEWER_SECRET_ARN)'),
        ),
    };
  let value: Promise<string> | undefined;
  return {
    get() {
      value ??= createSecretsClient(config)
        .send(new GetSecretValueCommand({ SecretId: arn }))
        .then((r) => {
          if (!r.SecretString || r.SecretString.length < 32)
            throw new Error('the viewer id secret has no value of 32 characters or more');
          return r.SecretString;
        });
      value.catch(() => (value = undefined));
      return value;
    },
  };
}
