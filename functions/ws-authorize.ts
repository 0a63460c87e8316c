// The $connect REQUEST authorizer: anyone may view a known event; the operator token makes a reporter.
// A `viewer` id on the handshake, if any, must be one this service signed: its identity then rides in
// the context (`viewer`) on every message, and reposts count once per viewer (a forged one: 401).
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { AppError } from '../shared/domain/errors';
import { viewerSecret, type ViewerSecret } from '../shared/adapters/viewer-secret';
import { verifyViewerId } from '../shared/domain/viewer-id';
import { container } from './lib/container';
import { observe } from './lib/observe';

let secret: ViewerSecret | undefined;

/** The viewer id's identity, {} without one; a forged or expired one refuses the handshake (401). */
async function viewerOf(event: APIGatewayRequestAuthorizerEvent): Promise<{ viewer?: string }> {
  const token = event.queryStringParameters?.viewer;
  if (!token) return {};
  const c = container();
  const verified = verifyViewerId(await (secret ??= viewerSecret(c.config)).get(), token, Date.now());
  if (verified) return { viewer: verified.id };
  c.log.info('handshake refused', { code: 'bad_viewer_id' });
  throw new Error('Unauthorized');
}

async function main(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const eventId = event.queryStringParameters?.eventId ?? '';
  const token = event.queryStringParameters?.token || undefined;
  const { events, log } = container();
  const viewer = await viewerOf(event);
  try {
    const { role, tokenGen } = await events.admit(eventId, token);
    // API Gateway repeats the context on every message of the connection: the token generation
    // rides along, and each write is conditioned on it (a rotation revokes without a lookup); so
    // does the verified viewer id (who a repost counts as).
    const context = { eventId, role, ...(tokenGen !== undefined ? { tokenGen: String(tokenGen) } : {}), ...viewer };
    return policy(`${role}:${eventId}`, 'Allow', event.methodArn, context);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    // Never log the token: only which rule refused.
    log.info('handshake refused', { eventId, code: err.code });
    // API Gateway turns this exact message into 401; a Deny policy into 403.
    if (err.code === 'unauthorized') throw new Error('Unauthorized', { cause: err });
    return policy('anonymous', 'Deny', event.methodArn);
  }
}

function policy(
  principalId: string,
  effect: 'Allow' | 'Deny',
  resource: string,
  context?: Record<string, string>,
): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    ...(context ? { context } : {}),
  };
}

export const handler = middy(main).use(observe());
