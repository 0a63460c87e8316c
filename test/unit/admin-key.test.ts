// The deployed admin key: a rotation in Secrets Manager reaches a running container within the TTL.
// The real SDK client talks to a local stand-in for Secrets Manager's GetSecretValue (JSON 1.1 over
// HTTP); only Date is faked, to move past the TTL without waiting.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY_MAX_AGE_SECONDS, secretAdminKey } from '../../shared/adapters/admin-key';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:livecast-admin-key-AbCdEf';

/** Secrets Manager as far as GetSecretValue goes: the current value, a call count, and a switch to fail. */
const secretsManager = { value: 'first-admin-key-0123456789abcdef', calls: 0, failNext: false };
let server: Server;
let client: SecretsManagerClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      secretsManager.calls++;
      const target = req.headers['x-amz-target'];
      const { SecretId } = JSON.parse(body) as { SecretId?: string };
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (secretsManager.failNext) {
        secretsManager.failNext = false;
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'AccessDeniedException', message: 'not allowed' }));
        return;
      }
      if (target !== 'secretsmanager.GetSecretValue' || SecretId !== ARN) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: `no ${String(SecretId)}` }));
        return;
      }
      res.end(
        JSON.stringify({
          ARN,
          Name: 'livecast-admin-key',
          SecretString: secretsManager.value,
          VersionId: 'v',
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 1_780_000_000,
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new SecretsManagerClient({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client?.destroy();
  await new Promise((r) => server?.close(r));
});

beforeEach(() => {
  // Only the clock: sockets and the SDK's own timers run as usual.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-07-01T09:00:00Z'));
  secretsManager.value = 'first-admin-key-0123456789abcdef';
  secretsManager.calls = 0;
  secretsManager.failNext = false;
});
afterEach(() => {
  vi.useRealTimers();
});

const advance = (seconds: number) => vi.setSystemTime(Date.now() + seconds * 1000);

describe('the admin key from Secrets Manager', () => {
  it('is kept for the TTL, then read again: a rotation is in force within five minutes', async () => {
    expect(ADMIN_KEY_MAX_AGE_SECONDS).toBe(300);
    const key = secretAdminKey(client, ARN);
    expect(await key.get()).toBe('first-admin-key-0123456789abcdef');

    secretsManager.value = 'rotated-admin-key-0123456789abcd';
    advance(ADMIN_KEY_MAX_AGE_SECONDS - 5);
    // Still cached: no call, the old key.
    expect(await key.get()).toBe('first-admin-key-0123456789abcdef');
    expect(secretsManager.calls).toBe(1);

    advance(10);
    expect(await key.get()).toBe('rotated-admin-key-0123456789abcd');
    expect(secretsManager.calls).toBe(2);
    // And kept again.
    expect(await key.get()).toBe('rotated-admin-key-0123456789abcd');
    expect(secretsManager.calls).toBe(2);
  });

  it('asks once for requests arriving together on a cold container', async () => {
    const key = secretAdminKey(client, ARN);
    const values = await Promise.all(Array.from({ length: 10 }, () => key.get()));
    expect(new Set(values)).toEqual(new Set(['first-admin-key-0123456789abcdef']));
    expect(secretsManager.calls).toBe(1);
  });

  it('keeps no failure: the next request asks again', async () => {
    const key = secretAdminKey(client, ARN);
    secretsManager.failNext = true;
    await expect(key.get()).rejects.toThrow();
    expect(await key.get()).toBe('first-admin-key-0123456789abcdef');
    expect(secretsManager.calls).toBe(2);
  });

  it('honours a shorter TTL given to it', async () => {
    const key = secretAdminKey(client, ARN, 30);
    await key.get();
    secretsManager.value = 'rotated-admin-key-0123456789abcd';
    advance(31);
    expect(await key.get()).toBe('rotated-admin-key-0123456789abcd');
  });
});
