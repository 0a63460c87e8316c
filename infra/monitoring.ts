// Alarms, the dashboard and the SNS topic an operator is paged through, per stage (docs/operations.md is
// the runbook: one section per alarm below, same names).
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IHttpApi, IWebSocketApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Metric as Names, METRIC_NAMESPACE, METRIC_SERVICE } from '../shared/observability/names';

/** The delivery budget the workers pace to when LIVECAST_DELIVERY_BUDGET is not set (shared/config.ts). */
export const DEFAULT_DELIVERY_BUDGET = 7_000;
/** The audience a stage is sized for unless told (the ceremony of DESIGN.md). */
export const DEFAULT_AUDIENCE = 10_000;

/**
 * Delivery's promise, from docs/performance.md: an update reaches everyone within one sweep of the
 * shard's connections and a second, p99 ≤ 1.5 × N/B + 1 s for N viewers at a budget of B posts/s.
 */
export function deliveryLagBoundMs(audience: number, budget: number): number {
  if (!(audience > 0) || !(budget > 0))
    throw new Error(`delivery lag bound: audience (${audience}) and budget (${budget}) must be positive`);
  return Math.ceil((1.5 * (audience / budget) + 1) * 1000);
}

export interface MonitoringProps {
  /** The stage's name: the `stage` dimension of the custom metrics (what LIVECAST_STAGE says) and the alarms' prefix. */
  readonly stage: string;
  /** Where alarms are mailed; without it the topic has no subscriber (add one by hand, or a chat hook). */
  readonly alarmEmail?: string;
  /** Every function of the stack, by its id in shared/routes.ts: each gets an errors and a throttles alarm. */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The delivery worker (asynchronous invocations: dropped events, event age). */
  readonly deliveryWorker: IFunction;
  /** The functions behind stream event source mappings, by id: iterator age. */
  readonly streamFunctions: Readonly<Record<string, IFunction>>;
  /** The functions that invoke Lambda (recursion detection can drop their chains), by id. */
  readonly invokers: Readonly<Record<string, IFunction>>;
  /** Every table, by id: throttle events. */
  readonly tables: Readonly<Record<string, ITable>>;
  /** Every failure queue, by id: depth above 0. */
  readonly failureQueues: Readonly<Record<string, IQueue>>;
  readonly webSocketApi: IWebSocketApi;
  readonly webSocketStageName: string;
  readonly httpApi: IHttpApi;
  readonly httpStageName: string;
  /** Viewers the stage is sized for: sets the delivery lag bound. @default 10,000 */
  readonly audience?: number;
  /** @connections posts/s delivery spends. @default 7,000 (shared/config.ts) */
  readonly deliveryBudget?: number;
}

/** A stage name as the alarm and dashboard names need it: CloudWatch dashboards take [A-Za-z0-9_-] only. */
const STAGE_NAME = /^[A-Za-z0-9_-]{1,32}$/;
/** Enough to refuse a typo (`-c alarmEmail=ops`) before CloudFormation or SNS would. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

interface AlarmSpec {
  readonly metric: IMetric;
  readonly threshold: number;
  /** @default GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparison?: ComparisonOperator;
  readonly evaluationPeriods: number;
  /** @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  /**
   * Almost every metric here exists only while something happens (no post, no lag sample; no error,
   * no Errors datapoint): silence is health, so missing data does not breach unless said.
   */
  readonly treatMissingData?: TreatMissingData;
  /** What it means, one line; the runbook section (docs/operations.md) says what to do. */
  readonly description: string;
  /** The runbook's section for this alarm. */
  readonly runbook: string;
}

export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  /** Every alarm, by its name's tail (`DeliveryLag`, `Errors-WsPublish`, …). */
  readonly alarms: Readonly<Record<string, Alarm>>;
  /** The delivery lag p99 threshold in ms. */
  readonly lagBoundMs: number;

  private readonly stage: string;
  private readonly built: Record<string, Alarm> = {};

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    if (!STAGE_NAME.test(props.stage)) {
      throw new Error(
        `monitoring: stage '${props.stage}' must be 1–32 letters, digits, '-' or '_' (it names the alarms and the dashboard)`,
      );
    }
    if (props.alarmEmail !== undefined && !EMAIL.test(props.alarmEmail)) {
      throw new Error(`monitoring: alarmEmail '${props.alarmEmail}' is not an email address`);
    }
    this.stage = props.stage;
    this.alarms = this.built;
    this.lagBoundMs = deliveryLagBoundMs(
      props.audience ?? DEFAULT_AUDIENCE,
      props.deliveryBudget ?? DEFAULT_DELIVERY_BUDGET,
    );

    // CloudWatch can publish to an encrypted topic only under a customer-managed key whose policy lets
    // it (the AWS-managed alias/aws/sns key does not): one small key per stage.
    const key = new Key(this, 'AlarmTopicKey', {
      description: `livecast ${props.stage}: encrypts the alarm topic`,
      enableKeyRotation: true,
      // The topic keeps nothing at rest beyond a message in flight: nothing to keep the key for.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch acts for this stage's alarms only (the confused-deputy conditions AWS documents for
    // service principals): another account's alarm cannot publish here or use the key.
    const stack = Stack.of(this);
    const forOurAlarms = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: `livecast-${props.stage}-*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    };
    const cloudwatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [cloudwatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: forOurAlarms,
      }),
    );
    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: `livecast ${props.stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    // A topic policy (enforceSSL makes one) replaces SNS's default one: CloudWatch needs its own line.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        principals: [cloudwatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: forOurAlarms,
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const delivery = this.deliveryAlarms();
    for (const [fid, fn] of Object.entries(props.functions)) this.functionAlarms(fid, fn);
    this.workerAlarms(props.deliveryWorker);
    for (const [fid, fn] of Object.entries(props.streamFunctions)) this.iteratorAgeAlarm(fid, fn);
    for (const [fid, fn] of Object.entries(props.invokers)) this.recursionAlarm(fid, fn);
    for (const [qid, queue] of Object.entries(props.failureQueues)) this.queueAlarm(qid, queue);
    for (const [tid, table] of Object.entries(props.tables)) this.tableAlarm(tid, table);
    const api = this.apiAlarms(props);

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `livecast-${props.stage}`,
      defaultInterval: Duration.hours(3),
    });
    this.buildDashboard(props, delivery, api);
  }

  /** A custom metric of the code (shared/observability/names.ts), on this stage. */
  private custom(name: string, statistic: string, label?: string): Metric {
    return new Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { service: METRIC_SERVICE, stage: this.stage },
      statistic,
      period: MINUTE,
      ...(label ? { label } : {}),
    });
  }

  private alarm(name: string, spec: AlarmSpec): Alarm {
    if (this.built[name]) throw new Error(`monitoring: two alarms named '${name}'`);
    const alarm = new Alarm(this, `Alarm${name.replace(/[^A-Za-z0-9]/g, '')}`, {
      alarmName: `livecast-${this.stage}-${name}`,
      alarmDescription: `${spec.description} Runbook: docs/operations.md#${spec.runbook}`,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: spec.evaluationPeriods,
      datapointsToAlarm: spec.datapointsToAlarm ?? spec.evaluationPeriods,
      treatMissingData: spec.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    // OK too: the mail that says it is over is what lets the operator stop watching.
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.built[name] = alarm;
    return alarm;
  }

  private deliveryAlarms() {
    const posts = this.custom(Names.deliveryPosts, Stats.SUM, 'posts');
    const throttled = this.custom(Names.deliveryThrottled, Stats.SUM, '429s');
    // No label on an alarm's metric: a label turns the alarm into a one-metric math form.
    const lagP99 = this.custom(Names.deliveryLag, Stats.p(99));
    // Three minutes in a row past the bound: one slow sweep (a cold worker, a burst of reconnects)
    // clears itself within a minute; three is viewers behind for real.
    this.alarm('DeliveryLag', {
      metric: lagP99,
      threshold: this.lagBoundMs,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      description: `Delivery lag p99 (change committed → post accepted) above ${this.lagBoundMs} ms (1.5 × N/B + 1 s) for 3 minutes.`,
      runbook: 'deliverylag',
    });
    // The share of @connections attempts refused with 429: the workers back off and pace, so a few are
    // normal when something else in the account (another API, a sync storm) spends the shared 10,000/s;
    // 5% of attempts over 3 of 5 minutes means delivery is fighting for the budget.
    const throttleRate = new MathExpression({
      expression: 'IF(FILL(p, 0) + FILL(t, 0) > 0, 100 * FILL(t, 0) / (FILL(p, 0) + FILL(t, 0)), 0)',
      usingMetrics: { p: posts, t: throttled },
      label: '429s, % of @connections attempts',
      period: MINUTE,
    });
    this.alarm('DeliveryThrottled', {
      metric: throttleRate,
      threshold: 5,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description: 'More than 5% of @connections posts answered 429 in 3 of 5 minutes.',
      runbook: 'deliverythrottled',
    });
    return { posts, throttled, lagP99, throttleRate };
  }

  private functionAlarms(id: string, fn: IFunction): void {
    // Five in five minutes: a lone error that a retry absorbs (stream batches, the worker's async
    // retries, a client's re-send) does not page; one a minute, or a burst, does.
    this.alarm(`Errors-${id}`, {
      metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: Stats.SUM }),
      threshold: 5,
      evaluationPeriods: 1,
      description: `${id}: 5 or more invocation errors in 5 minutes.`,
      runbook: 'errors',
    });
    // Throttles are refused invocations: at a reserved-concurrency cap or the account's. Synchronous
    // callers see them as 5xx at once; the same 5-in-5 rule.
    this.alarm(`Throttles-${id}`, {
      metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: Stats.SUM }),
      threshold: 5,
      evaluationPeriods: 1,
      description: `${id}: 5 or more throttled invocations in 5 minutes.`,
      runbook: 'throttles',
    });
  }

  private workerAlarms(worker: IFunction): void {
    // Any dropped start is a shard nobody delivers to until the watchdog notices: page at once.
    this.alarm('WorkerEventsDropped', {
      metric: worker.metric('AsyncEventsDropped', { period: MINUTE, statistic: Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      description:
        'The delivery worker dropped asynchronous invocations (retries or age ran out; kept in WorkerFailures).',
      runbook: 'workereventsdropped',
    });
    // A start waits a minute, then two, before its retries: past 3 minutes it is queued behind
    // throttling, on its way to the 15-minute age limit.
    this.alarm('WorkerEventAge', {
      metric: worker.metric('AsyncEventAge', { period: MINUTE, statistic: Stats.MAXIMUM }),
      threshold: 180_000,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      description: 'Delivery worker starts waited over 3 minutes (past both retries) for 2 minutes: throttled.',
      runbook: 'workereventage',
    });
  }

  private iteratorAgeAlarm(id: string, fn: IFunction): void {
    // A record a minute old for two minutes: the trigger is falling behind its stream (a wake-up late
    // by that much is an update late by that much). Records give up at an hour (shared/routes.ts).
    this.alarm(`IteratorAge-${id}`, {
      metric: fn.metric('IteratorAge', { period: MINUTE, statistic: Stats.MAXIMUM }),
      threshold: 60_000,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      description: `${id}: its stream's oldest record over 60 s old for 2 minutes.`,
      runbook: 'iteratorage',
    });
  }

  private recursionAlarm(id: string, fn: IFunction): void {
    this.alarm(`RecursionDropped-${id}`, {
      metric: fn.metric('RecursiveInvocationsDropped', { period: MINUTE, statistic: Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      description: `${id}: Lambda stopped a chain of invocations as a recursive loop.`,
      runbook: 'recursiondropped',
    });
  }

  private queueAlarm(id: string, queue: IQueue): void {
    // Anything here is work owed (a stream batch, a worker start): one message is enough. SQS stops
    // reporting an empty queue after hours of quiet: missing is healthy.
    this.alarm(`FailureQueue-${id}`, {
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: MINUTE, statistic: Stats.MAXIMUM }),
      threshold: 0,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      description: `${id} holds failed work: redrive it.`,
      runbook: 'failurequeue',
    });
  }

  private tableAlarm(id: string, table: ITable): void {
    // Every throttle cause (a hot partition, on-demand's max, the account) counts in these two. The
    // code retries throttled calls with backoff, so a minute of them passes; 3 of 5 minutes does not.
    const expression = new MathExpression({
      expression: 'FILL(r, 0) + FILL(w, 0)',
      usingMetrics: {
        r: table.metric('ReadThrottleEvents', { period: MINUTE, statistic: Stats.SUM }),
        w: table.metric('WriteThrottleEvents', { period: MINUTE, statistic: Stats.SUM }),
      },
      label: `${id} throttle events`,
      period: MINUTE,
    });
    this.alarm(`DynamoThrottles-${id}`, {
      metric: expression,
      threshold: 0,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description: `${id}: DynamoDB throttled reads or writes in 3 of 5 minutes.`,
      runbook: 'dynamothrottles',
    });
  }

  private apiAlarms(props: MonitoringProps) {
    const ws = (metricName: string, statistic: string = Stats.SUM) =>
      new Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.webSocketApi.apiId, Stage: props.webSocketStageName },
        statistic,
        period: MINUTE,
      });
    const http = (metricName: string, statistic: string = Stats.SUM) =>
      new Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.httpApi.apiId, Stage: props.httpStageName },
        statistic,
        period: MINUTE,
      });
    // WebSocket APIs have no 5xx metric. ExecutionError counts failures to call the integration (a
    // function that threw, timed out or was throttled): the server-side failures. IntegrationError also
    // counts the handlers' own 4xx (a refused handshake), so it is on the dashboard, not paging.
    const wsExecutionErrors = ws('ExecutionError');
    this.alarm('WebSocket5xx', {
      metric: wsExecutionErrors.with({ period: FIVE_MINUTES }),
      threshold: 10,
      evaluationPeriods: 1,
      description: 'WebSocket API: 10 or more integration execution errors (its 5xx) in 5 minutes.',
      runbook: 'api5xx',
    });
    const http5xx = http('5xx');
    this.alarm('Http5xx', {
      metric: http5xx.with({ period: FIVE_MINUTES }),
      threshold: 10,
      evaluationPeriods: 1,
      description: 'HTTP API: 10 or more 5xx answers in 5 minutes.',
      runbook: 'api5xx',
    });
    return { ws, http, wsExecutionErrors, http5xx };
  }

  private buildDashboard(
    props: MonitoringProps,
    delivery: ReturnType<Monitoring['deliveryAlarms']>,
    api: ReturnType<Monitoring['apiAlarms']>,
  ): void {
    const fns = Object.entries(props.functions);
    const graph = (title: string, left: IMetric[], right: IMetric[] = [], width = 8) =>
      new GraphWidget({ title, left, right, width, height: 6 });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# livecast ${props.stage}\nAlarms and what to do: docs/operations.md. Delivery lag bound: **${this.lagBoundMs} ms** p99.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.built), width: 24, height: 6 }),
    );
    this.dashboard.addWidgets(
      graph(
        'Delivery: posts, 429s, 410s',
        [
          delivery.posts,
          delivery.throttled,
          this.custom(Names.deliveryGone, Stats.SUM, '410s'),
          this.custom(Names.deliveryAbandoned, Stats.SUM, 'abandoned'),
        ],
        [delivery.throttleRate],
      ),
      graph('Delivery lag (committed → accepted)', [
        this.custom(Names.deliveryLag, Stats.p(50), 'lag p50'),
        delivery.lagP99.with({ label: 'lag p99' }),
      ]),
      graph(
        'Live counts: share of posts',
        [this.custom(Names.deliveryStatsShare, Stats.AVERAGE, 'stats share %')],
        [this.custom(Names.deliveryStatsOnlyPosts, Stats.SUM, 'stats-only posts')],
      ),
    );
    this.dashboard.addWidgets(
      graph('publish: ack latency', [
        this.custom(Names.ackLatency, Stats.p(50), 'ack p50'),
        this.custom(Names.ackLatency, Stats.p(99), 'ack p99'),
      ]),
      graph(
        'Repost tally: lag and reposts',
        [
          this.custom(Names.tallyLag, Stats.p(50), 'tally lag p50'),
          this.custom(Names.tallyLag, Stats.p(99), 'tally lag p99'),
        ],
        [this.custom(Names.repostsCounted, Stats.SUM, 'reposts counted')],
      ),
      graph(
        'Stream triggers: iterator age',
        Object.entries(props.streamFunctions).map(([id, fn]) =>
          fn.metric('IteratorAge', { statistic: Stats.MAXIMUM, period: MINUTE, label: id }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Function errors',
        fns.map(([id, fn]) => fn.metricErrors({ period: MINUTE, label: id })),
      ),
      graph(
        'Function throttles',
        fns.map(([id, fn]) => fn.metricThrottles({ period: MINUTE, label: id })),
      ),
      graph(
        'Function concurrency (max)',
        fns.map(([id, fn]) =>
          fn.metric('ConcurrentExecutions', { statistic: Stats.MAXIMUM, period: MINUTE, label: id }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Failure queues: messages visible',
        Object.entries(props.failureQueues).map(([id, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, period: MINUTE, label: id }),
        ),
      ),
      graph('API errors', [
        api.wsExecutionErrors.with({ label: 'WebSocket ExecutionError' }),
        api.ws('IntegrationError').with({ label: 'WebSocket IntegrationError' }),
        api.ws('ClientError').with({ label: 'WebSocket ClientError' }),
        api.http5xx.with({ label: 'HTTP 5xx' }),
        api.http('4xx').with({ label: 'HTTP 4xx' }),
      ]),
      graph(
        'Connections and messages',
        [api.ws('ConnectCount').with({ label: 'connects' })],
        [
          api.ws('MessageCount').with({ label: 'WebSocket messages' }),
          api.http('Count').with({ label: 'HTTP requests' }),
        ],
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'DynamoDB throttle events',
        Object.entries(props.tables).flatMap(([id, t]) => [
          t.metric('ReadThrottleEvents', { statistic: Stats.SUM, period: MINUTE, label: `${id} read` }),
          t.metric('WriteThrottleEvents', { statistic: Stats.SUM, period: MINUTE, label: `${id} write` }),
        ]),
        [],
        12,
      ),
      graph(
        'Delivery worker: async starts',
        [
          props.deliveryWorker.metric('AsyncEventsReceived', {
            statistic: Stats.SUM,
            period: MINUTE,
            label: 'received',
          }),
          props.deliveryWorker.metric('AsyncEventsDropped', { statistic: Stats.SUM, period: MINUTE, label: 'dropped' }),
        ],
        [
          props.deliveryWorker.metric('AsyncEventAge', {
            statistic: Stats.MAXIMUM,
            period: MINUTE,
            label: 'event age max',
          }),
        ],
        12,
      ),
    );
  }
}
