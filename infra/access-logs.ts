// Access logs for the two API stages: one JSON line per request, never the query string (a reporter's
// operator token rides the WebSocket handshake's `?token=`) and no headers (the organiser's admin key).
import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { type IAccessLogSettings, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct, IConstruct } from 'constructs';
import { acknowledge } from './nag';

/**
 * WebSocket stage: who (source address), which connection, which route or event (CONNECT, MESSAGE,
 * DISCONNECT), how it ended, how long the function took and why it failed. `$context` variables from
 * AWS's "Configure logging for WebSocket APIs"; none of them carries the handshake's query string.
 */
export const WS_ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  time: '$context.requestTimeEpoch',
  ip: '$context.identity.sourceIp',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  connectionId: '$context.connectionId',
  status: '$context.status',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integrationLatency',
  authorizeStatus: '$context.authorize.status',
  authorizerError: '$context.authorizer.error',
  error: '$context.error.message',
  integrationError: '$context.integration.error',
};

/**
 * HTTP stage: the route key (`GET /events/{eventId}`), not `$context.path`: the route names what was
 * asked with nothing a caller typed, and no query string can slip in. Variables from AWS's
 * "Customizing HTTP API access logs".
 */
export const HTTP_ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  time: '$context.requestTimeEpoch',
  ip: '$context.identity.sourceIp',
  method: '$context.httpMethod',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
};

/**
 * Two weeks: long enough to look back over an event and its week after; the source addresses in
 * them are personal data, kept no longer than that (docs/security.md).
 */
export const ACCESS_LOG_RETENTION = RetentionDays.TWO_WEEKS;

function settings(
  scope: Construct,
  id: string,
  fields: Readonly<Record<string, string>>,
): { settings: IAccessLogSettings; logGroup: LogGroup } {
  const logGroup = new LogGroup(scope, id, { retention: ACCESS_LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY });
  return {
    logGroup,
    settings: {
      destination: new LogGroupLogDestination(logGroup),
      format: AccessLogFormat.custom(JSON.stringify(fields)),
    },
  };
}

export function httpAccessLogs(scope: Construct): { settings: IAccessLogSettings; logGroup: LogGroup } {
  return settings(scope, 'HttpAccessLogs', HTTP_ACCESS_LOG_FIELDS);
}

/**
 * WebSocket stages log through the account's API Gateway CloudWatch role (HTTP APIs do not need it):
 * without it the stage's deployment fails with "CloudWatch Logs role ARN must be set in account
 * settings". The setting is one per account and region, so the role is retained: another stage of
 * this app, in the same account, may be logging through it.
 */
export function webSocketAccessLogs(scope: Construct): {
  settings: IAccessLogSettings;
  logGroup: LogGroup;
  account: CfnAccount;
} {
  const role = new Role(scope, 'ApiGatewayLogsRole', {
    description: 'API Gateway writes the WebSocket stage access logs with it (account setting)',
    assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
    managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
  });
  role.applyRemovalPolicy(RemovalPolicy.RETAIN);
  acknowledge(
    role,
    "AmazonAPIGatewayPushToCloudWatchLogs is AWS's own policy for API Gateway's account-wide logging role (log groups are created by API Gateway under names it picks); a copy would only drift.",
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
  );
  const account = new CfnAccount(scope, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
  account.applyRemovalPolicy(RemovalPolicy.RETAIN);
  return { ...settings(scope, 'WebSocketAccessLogs', WS_ACCESS_LOG_FIELDS), account };
}

/** The stage waits for the account setting: CloudFormation would otherwise race the two. */
export function dependOnAccount(stage: IConstruct, account: CfnAccount): void {
  stage.node.addDependency(account);
}
