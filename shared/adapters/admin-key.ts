// The organiser's admin key: from the environment locally, from Secrets Manager when deployed.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';

export interface AdminKeySource {
  get(): Promise<string>;
}

export const staticAdminKey = (key: string): AdminKeySource => ({ get: async () => key });

/** How long a container keeps the key before asking Secrets Manager again. */
export const ADMIN_KEY_MAX_AGE_SECONDS = 300;

/**
 * Powertools Parameters' cache with a TTL: each container asks Secrets Manager at most once per
 * `maxAgeSeconds` (one GetSecretValue, $0.05 per 10,000), so a key rotated in Secrets Manager is in
 * force in every function within that time, without a redeploy or waiting for containers to recycle.
 * Requests arriving together on a cold container share one call; a failed call is not kept.
 */
export function secretAdminKey(
  client: SecretsManagerClient,
  secretId: string,
  maxAgeSeconds: number = ADMIN_KEY_MAX_AGE_SECONDS,
): AdminKeySource {
  const secrets = new SecretsProvider({ awsSdkV3Client: client });
  let pending: Promise<string> | undefined;
  return {
    get() {
      pending ??= secrets
        .get(secretId, { maxAge: maxAgeSeconds })
        .then((value) => {
          if (typeof value !== 'string' || value === '') throw new Error('the admin key secret has no string value');
          return value;
        })
        .finally(() => (pending = undefined));
      return pending;
    },
  };
}
