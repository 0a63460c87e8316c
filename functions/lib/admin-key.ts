// The organiser's admin key: only functions granted `adminKey` import this (and Secrets Manager with it).
import { type AdminKeySource, secretAdminKey, staticAdminKey } from '../../shared/adapters/admin-key';
import { createSecretsClient } from '../../shared/adapters/aws-clients';
import { part } from './container';

export const adminKey = part(({ config }): AdminKeySource =>
  config.adminKey
    ? staticAdminKey(config.adminKey)
    : config.adminKeySecretArn
      ? secretAdminKey(createSecretsClient(config), config.adminKeySecretArn)
      : { get: () => Promise.reject(new Error('no admin key configured')) },
);
