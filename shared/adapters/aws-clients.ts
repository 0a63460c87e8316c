// The one client factory: every AWS SDK client, pointed at AWS or at the local stand-ins by configuration.
// A bundle carries only the clients whose factory it calls: the SDK's packages declare
// `"sideEffects": false`, so esbuild drops an unused factory's import (test/infra/bundles.test.ts).
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Config } from '../config';

/** The local stage accepts any signature; these only satisfy the signer. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Kept-alive sockets, enough of them for the fan-out's concurrency (the SDK's default pool is 50). */
function requestHandler(maxSockets: number) {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    connectionTimeout: 3_000,
    // A call with no answer in 10 s fails (and the SDK retries it) instead of holding the handler
    // until the socket dies: without this the SDK only logs a warning.
    requestTimeout: 10_000,
    throwOnRequestTimeout: true,
  });
}

function common(config: Config, maxSockets = 50) {
  return {
    region: config.region,
    requestHandler: requestHandler(maxSockets),
    ...(config.local ? { credentials: LOCAL_CREDENTIALS } : {}),
  };
}

/**
 * Called before every DynamoDB command a client made here sends, with the command's name and its
 * input. The local stage registers one that refuses what the calling function did not declare in
 * shared/routes.ts (IAM is not enforced locally); nothing is registered on AWS.
 */
export type DynamoCallCheck = (command: string, input: Record<string, unknown>) => void;
const dynamoChecks: DynamoCallCheck[] = [];
export function checkDynamoCalls(check: DynamoCallCheck): void {
  if (!dynamoChecks.includes(check)) dynamoChecks.push(check);
}

export function createDynamoClient(config: Config): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    ...common(config),
    // Five tries, not the SDK's three: a throttled partition or a hot key usually clears within a
    // few backed-off retries (SDK v2 gave DynamoDB ten), and the SDK's retry quota still stops a
    // storm of retries. At 20% of calls throttled, 1 in 125 calls failed with three tries; 1 in
    // 3,125 with five (test/integration/faults.test.ts).
    maxAttempts: 5,
    ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
  });
  if (config.local) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        for (const check of dynamoChecks)
          check(String(context.commandName ?? ''), args.input as Record<string, unknown>);
        return next(args);
      },
      { step: 'initialize', name: 'livecastLocalGrants' },
    );
  }
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function createManagementClient(config: Config): ApiGatewayManagementApiClient {
  if (!config.connectionsEndpoint) throw new Error('LIVECAST_CONNECTIONS_ENDPOINT is not set');
  return new ApiGatewayManagementApiClient({
    ...common(config, Math.max(50, config.workerInFlight)),
    endpoint: config.connectionsEndpoint,
    // No SDK retries: delivery paces itself and backs off on 429 with the whole picture in view.
    maxAttempts: 1,
  });
}

export function createLambdaClient(config: Config): LambdaClient {
  return new LambdaClient({
    ...common(config),
    ...(config.lambdaEndpoint ? { endpoint: config.lambdaEndpoint } : {}),
  });
}

export function createSecretsClient(config: Config): SecretsManagerClient {
  return new SecretsManagerClient(common(config));
}

/** S3 for the photos; path-style on the local stand-in, which is addressed by IP. */
export function createS3Client(config: Config): S3Client {
  return new S3Client({
    ...common(config),
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint, forcePathStyle: true } : {}),
  });
}

/** SSM Parameter Store: only where the photos' base URL is read from a parameter. */
export function createSsmClient(config: Config): SSMClient {
  return new SSMClient(common(config));
}
