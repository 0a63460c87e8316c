// The `$connect` REQUEST authorizer as API Gateway runs it: identity sources checked before it is
// invoked, its policy evaluated against the method ARN, its context flattened to strings.
import type http from 'node:http';
import { isCapacityError } from '../handshake-admission';
import { lambdaContext } from '../lambda-context';
import { type Authorizer, METHOD_ARN } from './events';
import { type Log, type WsAuthorizer, type WsGatewayStats, describe, isRecord } from './types';

/** A refused handshake's answer. */
export interface Refusal {
  readonly status: number;
  readonly errorType: string;
  readonly message: string;
}

export type Verdict = { authorizer: Authorizer } | { refusal: Refusal };

export interface AuthorizeDeps {
  readonly stats: WsGatewayStats;
  readonly log: Log;
  readonly unavailable: (() => string | undefined) | undefined;
}

const unauthorized = { refusal: { status: 401, errorType: 'UnauthorizedException', message: 'Unauthorized' } };
const forbidden = { refusal: { status: 403, errorType: 'AccessDeniedException', message: 'Forbidden' } };
const broken = {
  refusal: { status: 500, errorType: 'AuthorizerConfigurationException', message: 'Internal server error' },
};
const unavailable = {
  refusal: { status: 503, errorType: 'ServiceUnavailableException', message: 'Service Unavailable' },
};

export async function authorize(
  auth: WsAuthorizer,
  req: http.IncomingMessage,
  event: object,
  deps: AuthorizeDeps,
): Promise<Verdict> {
  // AWS refuses without invoking the authorizer when an identity source is absent or empty.
  if (!auth.identitySource.every((source) => identityPresent(source, req))) return unauthorized;

  const started = Date.now();
  let result: unknown;
  try {
    result = await auth.invoke(event, lambdaContext('local-ws-authorizer'));
  } catch (err) {
    if (err instanceof Error && err.message === 'Unauthorized') return unauthorized;
    deps.stats.handlerErrors += 1;
    if (isCapacityError(err) || deps.unavailable?.() !== undefined) return unavailable;
    deps.log(`ws: authorizer threw: ${describe(err)}`);
    return broken;
  }
  const integrationLatency = Date.now() - started;
  if (!isRecord(result) || typeof result.principalId !== 'string' || !isRecord(result.policyDocument)) {
    deps.log('ws: authorizer returned no principalId or policyDocument');
    return broken;
  }
  const flat = flatContext(result.context ?? {}, deps.log);
  if (flat === undefined) return broken;
  switch (evaluatePolicy(result.policyDocument, METHOD_ARN)) {
    case 'allow':
      return { authorizer: { ...flat, principalId: result.principalId, integrationLatency } };
    case 'deny':
      return forbidden;
    case 'invalid':
      deps.log('ws: authorizer returned a malformed policyDocument');
      return broken;
  }
}

/** The authorizer's context as integrations get it, or undefined when AWS would call it a misconfiguration. */
function flatContext(context: unknown, log: Log): Record<string, unknown> | undefined {
  if (!isRecord(context)) return undefined;
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context)) {
    // AWS accepts only primitives in the context and hands them to integrations as strings;
    // stringifying here keeps local handlers from relying on a type they will not get deployed.
    if (value === null || value === undefined) continue;
    if (
      typeof value !== 'string' &&
      typeof value !== 'number' &&
      typeof value !== 'boolean' &&
      typeof value !== 'bigint'
    ) {
      log(`ws: authorizer context key ${key} is not a string, number or boolean`);
      return undefined;
    }
    flat[key] = String(value);
  }
  return flat;
}

function identityPresent(source: string, req: http.IncomingMessage): boolean {
  const query = 'route.request.querystring.';
  const header = 'route.request.header.';
  if (source.startsWith(query)) {
    const q = (req.url ?? '').indexOf('?');
    const value = q === -1 ? null : new URLSearchParams((req.url ?? '').slice(q + 1)).get(source.slice(query.length));
    return value !== null && value !== '';
  }
  if (source.startsWith(header)) {
    const value = req.headers[source.slice(header.length).toLowerCase()];
    return value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0);
  }
  // Stage variables and context sources are not imitated; they never refuse.
  return true;
}

/** IAM-style evaluation of an authorizer policy for one ARN: an explicit Deny wins, an Allow is needed. */
function evaluatePolicy(policy: Record<string, unknown>, arn: string): 'allow' | 'deny' | 'invalid' {
  const statements = Array.isArray(policy.Statement)
    ? policy.Statement
    : isRecord(policy.Statement)
      ? [policy.Statement]
      : undefined;
  if (!statements) return 'invalid';
  let allowed = false;
  for (const statement of statements) {
    if (!isRecord(statement)) return 'invalid';
    const actions = listOf(statement.Action);
    const resources = listOf(statement.Resource);
    const applies =
      actions.some((action) => wildcardMatch(action, 'execute-api:Invoke')) &&
      resources.some((resource) => wildcardMatch(resource, arn));
    if (!applies) continue;
    if (statement.Effect === 'Deny') return 'deny';
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed ? 'allow' : 'deny';
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function wildcardMatch(pattern: string, value: string): boolean {
  if (pattern === '*' || pattern === value) return true;
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );
  return regex.test(value);
}
