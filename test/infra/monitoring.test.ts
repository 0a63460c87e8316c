// CDK assertion tests for operations: the alarms (metric, dimensions, threshold, action), the topic,
// the dashboard, reserved concurrency and the API stages' access logs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_LOG_RETENTION, HTTP_ACCESS_LOG_FIELDS, WS_ACCESS_LOG_FIELDS } from '../../infra/access-logs';
import { reservedConcurrency, UNRESERVED_MINIMUM } from '../../infra/capacity';
import { DEFAULT_AUDIENCE, DEFAULT_DELIVERY_BUDGET, deliveryLagBoundMs } from '../../infra/monitoring';
import { StatefulStack } from '../../infra/stateful-stack';
import { StatelessStack, type StatelessStackProps } from '../../infra/stateless-stack';
import { WS_ROUTE_THROTTLES } from '../../infra/throttles';
import { loadConfig } from '../../shared/config';
import { Metric, METRIC_NAMESPACE, METRIC_SERVICE, STAGE_ENV } from '../../shared/observability/names';
import { tables } from '../../shared/tables';
import {
  deliveryWatchdog,
  deliveryWake,
  deliveryWorker,
  failureQueues,
  wsAuthorizer,
  wsRoutes,
} from '../../shared/routes';

type Json = any;

interface Synth {
  api: StatelessStack;
  apiT: Template;
  dataT: Template;
  /** Every export of the data stack, by name: what the API stack's Fn::ImportValue resolves to. */
  exportsByName: Record<string, Json>;
}

// Bundling skipped as in stacks.test.ts: the templates are what these tests read.
function synth(props: Partial<StatelessStackProps> = {}): Synth {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const data = new StatefulStack(app, 'Livecast-Data');
  const api = new StatelessStack(app, 'Livecast-Api', {
    tables: data.tables,
    adminKey: data.adminKey,
    viewerSecret: data.viewerSecret,
    failureQueues: data.failureQueues,
    ...props,
  });
  const dataT = Template.fromStack(data);
  const exportsByName: Record<string, Json> = {};
  for (const output of Object.values<Json>(dataT.toJSON().Outputs ?? {})) {
    if (output.Export?.Name) exportsByName[output.Export.Name] = output.Value;
  }
  return { api, apiT: Template.fromStack(api), dataT, exportsByName };
}

let prod: Synth;
let dev: Synth;
beforeAll(() => {
  prod = synth({ alarmEmail: 'ops@example.org' });
  dev = synth({ stage: 'dev', audience: 1_000, capacity: { concurrentEvents: 1 } });
}, 120_000);

const alarmsOf = (t: Template): Json[] => Object.values(t.findResources('AWS::CloudWatch::Alarm'));
const topicRef = (t: Template) => ({ Ref: Object.keys(t.findResources('AWS::SNS::Topic'))[0] });
const alarmNamed = (t: Template, tail: string, stage = 'prod'): Json => {
  const found = alarmsOf(t).find((a) => a.Properties.AlarmName === `livecast-${stage}-${tail}`);
  if (!found) throw new Error(`no alarm livecast-${stage}-${tail}`);
  return found.Properties;
};
/** The metrics an alarm reads: itself if single, else each of its math expression's metrics. */
function metricsOf(alarm: Json): Json[] {
  if (alarm.MetricName)
    return [{ MetricName: alarm.MetricName, Namespace: alarm.Namespace, Dimensions: alarm.Dimensions }];
  return (alarm.Metrics as Json[]).filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric);
}
const dim = (m: Json, name: string): Json => (m.Dimensions as Json[] | undefined)?.find((d) => d.Name === name)?.Value;
const resolve = (s: Synth, v: Json): Json => (v?.['Fn::ImportValue'] ? s.exportsByName[v['Fn::ImportValue']] : v);
/** The alarms reading `metricName` (AWS or custom) whose dimension `name` is `value` (imports resolved). */
function alarmsOn(s: Synth, metricName: string, name: string, value: Json): Json[] {
  return alarmsOf(s.apiT)
    .map((a) => a.Properties)
    .filter((a) =>
      metricsOf(a).some(
        (m) => m.MetricName === metricName && JSON.stringify(resolve(s, dim(m, name))) === JSON.stringify(value),
      ),
    );
}

describe('alarm topic', () => {
  it('is encrypted under a key CloudWatch may use, refuses plain HTTP, and lets CloudWatch publish', () => {
    const t = prod.apiT;
    const [keyId] = Object.keys(t.findResources('AWS::KMS::Key', { Properties: { EnableKeyRotation: true } }));
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    // Only this stage's alarms, in this account, may use the key and publish.
    const ours = {
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', Match.arrayWith([':alarm:livecast-prod-*'])] } },
    };
    t.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: ours,
          }),
        ]),
      },
    });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sns:Publish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: ours,
          }),
        ]),
      },
    });
  });

  it('mails alarmEmail when given, and has no subscriber when not', () => {
    prod.apiT.resourcePropertiesCountIs(
      'AWS::SNS::Subscription',
      { Protocol: 'email', Endpoint: 'ops@example.org', TopicArn: topicRef(prod.apiT) },
      1,
    );
    dev.apiT.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('refuses a malformed alarmEmail or stage name with a clear error', () => {
    expect(() => synth({ alarmEmail: 'ops' })).toThrow(/alarmEmail 'ops' is not an email address/);
    expect(() => synth({ alarmEmail: '' })).toThrow(/alarmEmail '' is not an email address/);
    expect(() => synth({ stage: 'prod eu' })).toThrow(/stage 'prod eu' must be/);
    expect(() => synth({ audience: 0 })).toThrow(/audience \(0\) and budget \(7000\) must be positive/);
  });

  it("every alarm's runbook link names a section of docs/operations.md", () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/operations.md'), 'utf8');
    // GitHub's anchor for a heading: lower case, punctuation dropped.
    const anchors = new Set(
      [...doc.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const linked = new Set(alarmsOf(prod.apiT).map((a) => /#([a-z0-9-]+)$/.exec(a.Properties.AlarmDescription)![1]!));
    expect(linked.size).toBeGreaterThanOrEqual(11);
    for (const anchor of linked) expect(anchors, anchor).toContain(anchor);
  });

  it('every alarm alarms and clears through the topic', () => {
    for (const s of [prod, dev]) {
      const alarms = alarmsOf(s.apiT);
      expect(alarms.length).toBeGreaterThan(40);
      for (const a of alarms) {
        expect(a.Properties.AlarmActions, a.Properties.AlarmName).toEqual([topicRef(s.apiT)]);
        expect(a.Properties.OKActions, a.Properties.AlarmName).toEqual([topicRef(s.apiT)]);
        expect(a.Properties.AlarmDescription, a.Properties.AlarmName).toMatch(
          /Runbook: docs\/operations\.md#[a-z0-9]+$/,
        );
      }
    }
  });
});

describe('delivery alarms read the metrics the code emits', () => {
  const custom = (stage: string) => [
    { Name: 'service', Value: METRIC_SERVICE },
    { Name: 'stage', Value: stage },
  ];

  it('delivery lag p99 above 1.5 × N/B + 1 s for 3 minutes, on this stage', () => {
    const bound = deliveryLagBoundMs(DEFAULT_AUDIENCE, DEFAULT_DELIVERY_BUDGET);
    expect(bound).toBe(3143); // 1.5 × 10,000 / 7,000 + 1 s
    expect(alarmNamed(prod.apiT, 'DeliveryLag')).toMatchObject({
      Namespace: METRIC_NAMESPACE,
      MetricName: Metric.deliveryLag,
      Dimensions: custom('prod'),
      ExtendedStatistic: 'p99',
      Period: 60,
      Threshold: bound,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    // dev: its own dimension value and a bound for its 1,000 viewers.
    expect(alarmNamed(dev.apiT, 'DeliveryLag', 'dev')).toMatchObject({
      Dimensions: custom('dev'),
      Threshold: deliveryLagBoundMs(1_000, DEFAULT_DELIVERY_BUDGET),
    });
  });

  it('the bound uses the budget the workers pace to (shared/config.ts default)', () => {
    expect(loadConfig(Object.fromEntries(tables.map((t) => [t.envVar, t.id]))).deliveryBudget).toBe(
      DEFAULT_DELIVERY_BUDGET,
    );
    expect(() => deliveryLagBoundMs(0, 7_000)).toThrow(/must be positive/);
  });

  it('429 rate: DeliveryThrottled over all attempts, above 5% in 3 of 5 minutes', () => {
    const a = alarmNamed(prod.apiT, 'DeliveryThrottled');
    expect(a).toMatchObject({
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
    });
    const byId = Object.fromEntries((a.Metrics as Json[]).map((m) => [m.Id, m]));
    expect(byId.p.MetricStat).toMatchObject({
      Metric: { Namespace: METRIC_NAMESPACE, MetricName: Metric.deliveryPosts, Dimensions: custom('prod') },
      Stat: 'Sum',
    });
    expect(byId.t.MetricStat).toMatchObject({
      Metric: { Namespace: METRIC_NAMESPACE, MetricName: Metric.deliveryThrottled, Dimensions: custom('prod') },
      Stat: 'Sum',
    });
    const expression = (a.Metrics as Json[]).find((m) => m.Expression);
    expect(expression.ReturnData).toBe(true);
    expect(expression.Expression).toContain('100 * FILL(t, 0) / (FILL(p, 0) + FILL(t, 0))');
  });

  it('every function emits its metrics under the stage the alarms watch (LIVECAST_STAGE)', () => {
    for (const [s, stage] of [
      [prod, 'prod'],
      [dev, 'dev'],
    ] as const) {
      for (const [id, fn] of Object.entries(s.apiT.findResources('AWS::Lambda::Function'))) {
        expect((fn as Json).Properties.Environment?.Variables?.[STAGE_ENV], id).toBe(stage);
      }
    }
  });
});

describe('no function, stream trigger, queue or table without its alarm', () => {
  it('errors and throttles on every function in the template', () => {
    const fns = Object.keys(prod.apiT.findResources('AWS::Lambda::Function'));
    expect(fns.length).toBeGreaterThanOrEqual(21);
    for (const id of fns) {
      const errors = alarmsOn(prod, 'Errors', 'FunctionName', { Ref: id });
      const throttles = alarmsOn(prod, 'Throttles', 'FunctionName', { Ref: id });
      expect(errors, id).toHaveLength(1);
      expect(throttles, id).toHaveLength(1);
      for (const a of [...errors, ...throttles]) {
        expect(a, id).toMatchObject({
          Namespace: 'AWS/Lambda',
          Statistic: 'Sum',
          Period: 300,
          Threshold: 5,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 1,
        });
      }
    }
  });

  it('iterator age on the function of every event source mapping', () => {
    const mappings = Object.values(prod.apiT.findResources('AWS::Lambda::EventSourceMapping')) as Json[];
    expect(mappings).toHaveLength(3);
    for (const m of mappings) {
      const [a] = alarmsOn(prod, 'IteratorAge', 'FunctionName', m.Properties.FunctionName);
      expect(a, JSON.stringify(m.Properties.FunctionName)).toMatchObject({
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 60_000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 2,
      });
    }
  });

  it('depth above 0 on every failure queue', () => {
    const queues = Object.keys(prod.dataT.findResources('AWS::SQS::Queue'));
    expect(queues).toHaveLength(Object.keys(failureQueues).length);
    for (const q of queues) {
      const [a] = alarmsOn(prod, 'ApproximateNumberOfMessagesVisible', 'QueueName', { 'Fn::GetAtt': [q, 'QueueName'] });
      expect(a, q).toMatchObject({
        Namespace: 'AWS/SQS',
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
      });
    }
  });

  it('read and write throttle events on every table, summed', () => {
    const tables = Object.keys(prod.dataT.findResources('AWS::DynamoDB::Table'));
    expect(tables.length).toBeGreaterThanOrEqual(9);
    for (const table of tables) {
      const ref = { Ref: table };
      const [a] = alarmsOn(prod, 'ReadThrottleEvents', 'TableName', ref);
      expect(a, table).toBeDefined();
      expect(
        metricsOf(a).map((m) => [m.Namespace, m.MetricName, JSON.stringify(resolve(prod, dim(m, 'TableName')))]),
      ).toEqual([
        ['AWS/DynamoDB', 'ReadThrottleEvents', JSON.stringify(ref)],
        ['AWS/DynamoDB', 'WriteThrottleEvents', JSON.stringify(ref)],
      ]);
      expect((a.Metrics as Json[]).find((m) => m.Expression).Expression).toBe('FILL(r, 0) + FILL(w, 0)');
      expect(a).toMatchObject({ Threshold: 0, EvaluationPeriods: 5, DatapointsToAlarm: 3 });
    }
  });
});

describe('the worker, recursion and the APIs', () => {
  const fnRef = (id: string) => ({ Ref: prod.api.getLogicalId(prod.api.functions[id]!.node.defaultChild as never) });

  it('async events dropped (any) and event age past both retries on the delivery worker', () => {
    expect(alarmsOn(prod, 'AsyncEventsDropped', 'FunctionName', fnRef(deliveryWorker.id))).toMatchObject([
      { Statistic: 'Sum', Period: 60, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' },
    ]);
    expect(alarmsOn(prod, 'AsyncEventAge', 'FunctionName', fnRef(deliveryWorker.id))).toMatchObject([
      { Statistic: 'Maximum', Threshold: 180_000, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 2 },
    ]);
  });

  it('recursive invocations dropped on every function that invokes Lambda', () => {
    for (const id of [deliveryWorker.id, deliveryWake.id, deliveryWatchdog.id]) {
      expect(alarmsOn(prod, 'RecursiveInvocationsDropped', 'FunctionName', fnRef(id)), id).toMatchObject([
        { Statistic: 'Sum', Threshold: 1 },
      ]);
    }
    // Every function allowed to invoke one (lambda:InvokeFunction in its role) is among them.
    const invokers = Object.values(prod.apiT.findResources('AWS::IAM::Policy'))
      .filter((p: Json) => JSON.stringify(p.Properties.PolicyDocument).includes('lambda:InvokeFunction'))
      .flatMap((p: Json) => p.Properties.Roles.map((r: Json) => r.Ref));
    const fns = prod.apiT.findResources('AWS::Lambda::Function');
    for (const role of invokers) {
      const [fn] = Object.entries(fns).find(([, f]) => (f as Json).Properties.Role['Fn::GetAtt'][0] === role)!;
      expect(alarmsOn(prod, 'RecursiveInvocationsDropped', 'FunctionName', { Ref: fn }), fn).toHaveLength(1);
    }
  });

  it('WebSocket ExecutionError and HTTP 5xx, on their stages', () => {
    const [wsApi] = Object.keys(
      prod.apiT.findResources('AWS::ApiGatewayV2::Api', { Properties: { ProtocolType: 'WEBSOCKET' } }),
    );
    const [httpApi] = Object.keys(
      prod.apiT.findResources('AWS::ApiGatewayV2::Api', { Properties: { ProtocolType: 'HTTP' } }),
    );
    const stat = { Namespace: 'AWS/ApiGateway', Statistic: 'Sum', Period: 300, Threshold: 10 };
    expect(alarmNamed(prod.apiT, 'WebSocket5xx')).toMatchObject({
      ...stat,
      MetricName: 'ExecutionError',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: wsApi } },
        { Name: 'Stage', Value: 'live' },
      ],
    });
    expect(alarmNamed(prod.apiT, 'Http5xx')).toMatchObject({
      ...stat,
      MetricName: '5xx',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: httpApi } },
        { Name: 'Stage', Value: '$default' },
      ],
    });
  });
});

describe('dashboard', () => {
  it('one per stage, showing every custom metric', () => {
    const boards = Object.values(prod.apiT.findResources('AWS::CloudWatch::Dashboard')) as Json[];
    expect(boards).toHaveLength(1);
    expect(boards[0].Properties.DashboardName).toBe('livecast-prod');
    const body = JSON.stringify(boards[0].Properties.DashboardBody);
    for (const name of Object.values(Metric)) expect(body, name).toContain(`\\"${name}\\"`);
    for (const name of [
      'ConcurrentExecutions',
      'ApproximateNumberOfMessagesVisible',
      'ConnectCount',
      'ExecutionError',
      '5xx',
      'IteratorAge',
    ]) {
      expect(body, name).toContain(`\\"${name}\\"`);
    }
    expect(Object.values(dev.apiT.findResources('AWS::CloudWatch::Dashboard'))[0]).toMatchObject({
      Properties: { DashboardName: 'livecast-dev' },
    });
  });
});

describe('capacity', () => {
  it('reserves concurrency for the authorizer, $connect, publish and the worker, sized from the limits', () => {
    const sizes = reservedConcurrency({ publishRate: WS_ROUTE_THROTTLES.publish!.rateLimit! });
    // 500 handshakes/s × 0.2 s; publish's 400/s × 0.1 s; 16 shards × 4 events × 2.
    expect(sizes).toEqual({ WsAuthorizer: 100, WsConnect: 100, WsPublish: 40, DeliveryWorker: 128 });
    const connect = wsRoutes.find((r) => r.routeKey === '$connect')!;
    const publish = wsRoutes.find((r) => r.routeKey === 'publish')!;
    const reserved = (s: Synth, id: string) =>
      s.apiT.toJSON().Resources[s.api.getLogicalId(s.api.functions[id]!.node.defaultChild as never)].Properties
        .ReservedConcurrentExecutions;
    expect([wsAuthorizer.id, connect.id, publish.id, deliveryWorker.id].map((id) => reserved(prod, id))).toEqual([
      100, 100, 40, 128,
    ]);
    expect(reserved(dev, deliveryWorker.id)).toBe(32);
    // Nothing else reserves, and AWS's default 1,000 keeps its unreserved 100.
    const all = Object.values(prod.apiT.findResources('AWS::Lambda::Function')).map(
      (f: Json) => f.Properties.ReservedConcurrentExecutions ?? 0,
    );
    expect(all.filter((n) => n > 0)).toHaveLength(4);
    expect(1_000 - all.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(UNRESERVED_MINIMUM);
  });

  it('refuses nonsense sizing inputs', () => {
    expect(() => reservedConcurrency({ publishRate: 400, concurrentEvents: 0 })).toThrow(
      /concurrentEvents must be a positive number/,
    );
    expect(() => reservedConcurrency({ publishRate: 400, concurrentEvents: 1.5 })).toThrow(/whole number/);
  });
});

describe('access logs', () => {
  const stages = () => Object.values(prod.apiT.findResources('AWS::ApiGatewayV2::Stage')) as Json[];

  it('both stages log JSON lines to a log group of their own, kept two weeks', () => {
    expect(stages()).toHaveLength(2);
    const groups = prod.apiT.findResources('AWS::Logs::LogGroup');
    for (const stage of stages()) {
      const settings = stage.Properties.AccessLogSettings;
      const [group] = settings.DestinationArn['Fn::GetAtt'];
      expect(groups[group]?.Properties.RetentionInDays).toBe(ACCESS_LOG_RETENTION);
      const fields = JSON.parse(settings.Format);
      expect(fields).toEqual(stage.Properties.StageName === '$default' ? HTTP_ACCESS_LOG_FIELDS : WS_ACCESS_LOG_FIELDS);
      expect(fields.requestId).toBe('$context.requestId');
    }
    expect(ACCESS_LOG_RETENTION).toBe(14);
  });

  it('never the query string (the operator token) nor a header (the admin key)', () => {
    for (const stage of stages()) {
      for (const value of Object.values<string>(JSON.parse(stage.Properties.AccessLogSettings.Format))) {
        expect(value).toMatch(/^\$context\.[A-Za-z.]+$/);
        expect(value).not.toMatch(/querystring|\.path$|header|requestOverride|\$input|\$request/i);
      }
    }
  });

  it('the WebSocket stage waits for the account-level logging role, which is kept', () => {
    const [account] = Object.entries(prod.apiT.findResources('AWS::ApiGateway::Account'));
    expect(account).toBeDefined();
    expect((account![1] as Json).DeletionPolicy).toBe('Retain');
    const roleId = (account![1] as Json).Properties.CloudWatchRoleArn['Fn::GetAtt'][0];
    prod.apiT.hasResource('AWS::IAM::Role', {
      DeletionPolicy: 'Retain',
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })],
        },
        ManagedPolicyArns: [
          Match.objectLike({
            'Fn::Join': ['', Match.arrayWith([':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'])],
          }),
        ],
      },
    });
    expect(roleId).toBeDefined();
    const ws = Object.values(
      prod.apiT.findResources('AWS::ApiGatewayV2::Stage', { Properties: { StageName: 'live' } }),
    )[0] as Json;
    expect(ws.DependsOn).toContain(account![0]);
  });
});
