// The $connect REQUEST authorizer: anyone may view a known event; the operator token makes a reporter.
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { AppError } from '../shared/domain/errors';
import { container } from './lib/container';

async function main(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const eventId = event.queryStringParameters?.eventId ?? '';
  const token = event.queryStringParameters?.token || undefined;
  const { events, log } = container();
  try {
    const { role, tokenGen } = await events.admit(eventId, token);
    // API Gateway repeats the context on every message of the connection: the token generation
    // rides along, and each write is conditioned on it (a rotation revokes without a lookup).
    const context = { eventId, role, ...(tokenGen !== undefined ? { tokenGen: String(tokenGen) } : {}) };
    return policy(`${role}:${eventId}`, 'Allow', event.methodArn, context);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    // Never log the token: only which rule refused.
    log.info('handshake refused', { eventId, code: err.code });
    // API Gateway turns this exact message into 401; a Deny policy into 403.
    if (err.code === 'unauthorized') throw new Error('Unauthorized');
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
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
    ...(context ? { context } : {}),
  };
}

export const handler = middy(main);
