// The organiser's admin key: from the environment locally, from Secrets Manager when deployed.
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface AdminKeySource {
  get(): Promise<string>;
}

export const staticAdminKey = (key: string): AdminKeySource => ({ get: async () => key });

/** Read once per container, on first use, then kept: a rotation takes effect as containers recycle. */
export function secretAdminKey(client: SecretsManagerClient, secretId: string): AdminKeySource {
  let value: Promise<string> | undefined;
  return {
    get() {
      value ??= client.send(new GetSecretValueCommand({ SecretId: secretId })).then((r) => {
        if (!r.SecretString) throw new Error('the admin key secret has no string value');
        return r.SecretString;
      });
      value.catch(() => (value = undefined));
      return value;
    },
  };
}
