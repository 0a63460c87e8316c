// Stateless resources: the WebSocket and HTTP APIs and one function per route, wired by shared/routes.ts.
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import {
  CfnStage,
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type ThrottleSettings,
  WebSocketApi,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration, WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ArnPrincipal, Grant } from 'aws-cdk-lib/aws-iam';
import { RecursiveLoop, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ENV, TABLES, type TableNames, tableEnv } from '../shared/config';
import {
  type ConnectionMethod,
  connectionMethods,
  deliveryWorker,
  failureQueues,
  httpRoutes,
  scheduled,
  streamTriggers,
  wsAuthorizer,
  wsRoutes,
  type FunctionDef,
} from '../shared/routes';
import { STAGE_ENV } from '../shared/observability/names';
import type { TableDef } from '../shared/tables';
import { dependOnAccount, httpAccessLogs, webSocketAccessLogs } from './access-logs';
import { HTTP_ROUTE_THROTTLES, routeSettings, WS_ROUTE_THROTTLES } from './throttles';
import { applyReservedConcurrency, reservedConcurrency, type CapacityInputs } from './capacity';
import { LivecastFunction, type LivecastFunctionProps } from './livecast-function';
import { Monitoring } from './monitoring';
import { acknowledge, nagPseudo, nagRef } from './nag';
import type { FailureQueues, LivecastTables, TableId } from './stateful-stack';
import { imagesBaseUrlParameter, imagesBucketName } from './stages';
import { IMAGES_PREFIX, UPLOADS_PREFIX } from '../shared/domain/images';

export interface StatelessStackProps extends StackProps {
  readonly tables: LivecastTables;
  readonly adminKey: ISecret;
  /** The viewer id signing key, for the functions whose `needs` say `viewerSecret`. */
  readonly viewerSecret: ISecret;
  /** Where stream batches and worker invocations go when their retries run out (shared/routes.ts `failureQueues`). */
  readonly failureQueues: FailureQueues;
  /** @default 'live' */
  readonly wsStageName?: string;
  /**
   * The WebSocket stage's default route throttle: what a route without its own line in
   * `WS_ROUTE_THROTTLES` gets (each route separately).
   * @default 20/s, burst 40
   */
  readonly wsThrottle?: ThrottleSettings;
  /** The HTTP stage's default route throttle, for routes not in `HTTP_ROUTE_THROTTLES`. @default 25/s, burst 50 */
  readonly httpThrottle?: ThrottleSettings;
  /** The stage's name (`prod`, `dev`): the functions' LIVECAST_STAGE, the metrics' `stage` dimension, alarm names. @default 'prod' */
  readonly stage?: string;
  /** Where the stage's alarms are mailed (an SNS email subscription). @default no subscriber */
  readonly alarmEmail?: string;
  /** Viewers the stage is sized for: the delivery lag alarm's bound (infra/monitoring.ts). @default 10,000 */
  readonly audience?: number;
  /** The pages' origin (`https://live.example.com`): feeds' and snapshots' links (LIVECAST_SITE_ORIGIN). */
  readonly siteOrigin?: string;
  /** Reserved concurrency inputs (infra/capacity.ts, docs/operations.md). @default 4 concurrent events */
  readonly capacity?: Omit<CapacityInputs, 'publishRate'>;
}

export class StatelessStack extends Stack {
  readonly webSocketApi: WebSocketApi;
  readonly webSocketStage: WebSocketStage;
  readonly httpApi: HttpApi;
  readonly httpStage: HttpStage;
  /** Every function, keyed by its id in shared/routes.ts. */
  readonly functions: Readonly<Record<string, NodejsFunction>>;
  readonly deliveryWorker: NodejsFunction;
  readonly monitoring: Monitoring;
  /** The stage's name: LIVECAST_STAGE of every function, the metrics' `stage` dimension. */
  readonly stage: string;
  private readonly images: IBucket;
  /** LIVECAST_SITE_ORIGIN of every function, when the stage has a pages domain. */
  private readonly siteOrigin: string | undefined;

  private readonly tables: LivecastTables;
  private readonly adminKey: ISecret;
  private readonly viewerSecret: ISecret;
  private readonly built: Record<string, NodejsFunction> = {};

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    this.tables = props.tables;
    this.adminKey = props.adminKey;
    this.viewerSecret = props.viewerSecret;
    this.functions = this.built;
    this.stage = props.stage ?? 'prod';
    // The Data stack's photos bucket, by its name (infra/stages.ts imagesBucketName).
    this.images = Bucket.fromBucketName(this, 'ImagesBucket', imagesBucketName(this, this.stage));
    this.siteOrigin = props.siteOrigin;
    const wsStageName = props.wsStageName ?? 'live';

    ({ api: this.webSocketApi, stage: this.webSocketStage } = this.webSocketFront(wsStageName, props.wsThrottle));
    // Delivery first: the functions that start workers need the worker's name.
    this.deliveryWorker = this.addDeliveryWorker(props.failureQueues.worker);
    this.addStreamTriggers(props.failureQueues.streams);
    this.addSchedules();
    this.addWebSocketRoutes();
    ({ api: this.httpApi, stage: this.httpStage } = this.httpFront(props.httpThrottle));
    this.addHttpRoutes();
    applyReservedConcurrency(
      this.functions,
      reservedConcurrency({ ...props.capacity, publishRate: WS_ROUTE_THROTTLES.publish!.rateLimit! }),
    );
    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: this.stage,
      ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
      ...(props.audience !== undefined ? { audience: props.audience } : {}),
      functions: this.functions,
      deliveryWorker: this.deliveryWorker,
      streamFunctions: pick(
        this.functions,
        streamTriggers.map((t) => t.id),
      ),
      invokers: pick(
        this.functions,
        [deliveryWorker, ...streamTriggers, ...scheduled].filter((d) => d.needs.startWorkers).map((d) => d.id),
      ),
      tables: this.tables,
      failureQueues: Object.fromEntries(
        Object.entries(failureQueues).map(([key, def]) => [def.id, props.failureQueues[key as keyof FailureQueues]]),
      ),
      webSocketApi: this.webSocketApi,
      webSocketStageName: wsStageName,
      httpApi: this.httpApi,
      httpStageName: this.httpStage.stageName,
    });

    new CfnOutput(this, 'WebSocketUrl', {
      value: this.webSocketStage.url,
      description: 'wss:// URL clients connect to',
    });
    new CfnOutput(this, 'CallbackUrl', {
      value: this.webSocketStage.callbackUrl,
      description: 'management (@connections) endpoint of the WebSocket stage',
    });
    new CfnOutput(this, 'HttpApiUrl', { value: this.httpStage.url });
    new CfnOutput(this, 'AdminKeySecretArn', {
      value: this.adminKey.secretArn,
      description: 'the organiser admin key lives here; read it with secretsmanager get-secret-value',
    });
  }

  /** The WebSocket API and its stage (throttled, access-logged); the routes come later. */
  private webSocketFront(stageName: string, throttle: StatelessStackProps['wsThrottle']) {
    const api = new WebSocketApi(this, 'WebSocketApi', {
      description: 'livecast live feed: reporters publish, viewers follow',
      routeSelectionExpression: '$request.body.action',
    });
    const wsLogs = webSocketAccessLogs(this);
    const stage = new WebSocketStage(this, 'WebSocketStage', {
      webSocketApi: api,
      stageName,
      autoDeploy: true,
      throttle: throttle ?? { rateLimit: 20, burstLimit: 40 },
      accessLogSettings: wsLogs.settings,
    });
    dependOnAccount(stage, wsLogs.account);

    return { api, stage };
  }

  /** The delivery worker: retried, then kept for redrive; its successor is itself. */
  private addDeliveryWorker(failures: FailureQueues['worker']): NodejsFunction {
    const worker = this.fn(deliveryWorker, {
      timeout: Duration.seconds(deliveryWorker.timeoutSeconds),
      // A worker hands over to its successor (itself) every 15 minutes: Lambda's loop detection would
      // stop that chain at about 16 invocations, four hours into an event.
      recursiveLoop: RecursiveLoop.ALLOW,
    });
    // A crashed worker is retried (its lease has expired by then, so the retry takes over from its
    // cursor); one whose retries ran out, or that waited past the age limit behind throttling, is
    // kept for redrive. By then the watchdog has started another.
    worker.configureAsyncInvoke({
      retryAttempts: deliveryWorker.async.retryAttempts,
      maxEventAge: Duration.seconds(deliveryWorker.async.maxEventAgeSeconds),
      onFailure: new SqsDestination(failures),
    });
    // Its successor is itself. An identity policy naming its own ARN would make the function depend on
    // itself; a resource policy for its role does not.
    worker.addPermission('InvokedByItself', {
      principal: new ArnPrincipal(worker.role!.roleArn),
      action: 'lambda:InvokeFunction',
    });
    return worker;
  }

  /** The stream consumers, each on its table's stream, with a dead-letter queue for spent batches. */
  private addStreamTriggers(failures: FailureQueues['streams']): void {
    for (const trigger of streamTriggers) {
      const fn = this.fn(trigger);
      acknowledge(
        fn,
        'dynamodb:ListStreams, granted with the event source mapping, has no resource-level permission.',
        'AwsSolutions-IAM5[Resource::*]',
      );
      fn.addEventSource(
        new DynamoEventSource(this.streamTable(trigger.stream.table), {
          startingPosition: StartingPosition.LATEST,
          batchSize: trigger.stream.batchSize,
          maxBatchingWindow: Duration.seconds(trigger.stream.maxBatchingWindowSeconds),
          retryAttempts: trigger.stream.retryAttempts,
          maxRecordAge: Duration.seconds(trigger.stream.maxRecordAgeSeconds),
          bisectBatchOnError: trigger.stream.bisectBatchOnError,
          reportBatchItemFailures: trigger.stream.reportBatchItemFailures,
          // A batch whose retries ran out is not dropped: its shard and sequence numbers are kept for redrive.
          onFailure: new SqsDlq(failures),
        }),
      );
    }
  }

  /** The scheduled functions, each on its own EventBridge rule. */
  private addSchedules(): void {
    for (const def of scheduled) {
      const rule = new Rule(this, `${def.id}Schedule`, {
        description: `livecast: runs ${def.id} every ${def.everyMinutes} minute(s)`,
        schedule: Schedule.rate(Duration.minutes(def.everyMinutes)),
        targets: [
          new LambdaFunction(
            this.fn(def, {
              ...(def.timeoutSeconds ? { timeout: Duration.seconds(def.timeoutSeconds) } : {}),
              ...(def.memoryMB ? { memorySize: def.memoryMB } : {}),
            }),
            { retryAttempts: 0 },
          ),
        ],
      });
      // retryAttempts 0 above for the same reason.
      acknowledge(
        rule,
        'A missed tick has nothing to redrive: the next one, a minute later, does the same work.',
        'Serverless-EventBusDLQ',
      );
    }
  }

  /** The WebSocket routes, with the authorizer on $connect and per-route throttles on the stage. */
  private addWebSocketRoutes(): void {
    const authorizerFn = this.fn(wsAuthorizer, { timeout: Duration.seconds(wsAuthorizer.timeoutSeconds) });
    const authorizer = new WebSocketLambdaAuthorizer(`${wsAuthorizer.id}Authorizer`, authorizerFn, {
      identitySource: [...wsAuthorizer.identitySource],
    });

    for (const route of wsRoutes) {
      const handler = this.fn(route, route.timeoutSeconds ? { timeout: Duration.seconds(route.timeoutSeconds) } : {});
      const added = this.webSocketApi.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${route.id}Integration`, handler),
        returnResponse: route.returnResponse,
        // API Gateway accepts an authorizer on $connect only; the handshake is the one gate.
        ...(route.routeKey === '$connect' ? { authorizer } : {}),
      });
      if (route.routeKey !== '$connect') {
        acknowledge(
          added,
          "API Gateway accepts an authorizer on a WebSocket API's $connect only; the connection it lets in carries the identity to every route.",
          'AwsSolutions-APIG4',
        );
      }
      this.webSocketStage.node.addDependency(added);
    }
    (this.webSocketStage.node.defaultChild as CfnStage).routeSettings = routeSettings(
      WS_ROUTE_THROTTLES,
      wsRoutes.map((r) => r.routeKey),
      'WebSocket',
    );
  }

  /** The HTTP API (CORS for the pages) and its own throttled, access-logged stage. */
  private httpFront(throttle: StatelessStackProps['httpThrottle']) {
    const api = new HttpApi(this, 'HttpApi', {
      description: 'livecast organiser and replay API',
      // A stage of our own below, so it can carry throttling.
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: ['*'],
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST],
        allowHeaders: ['authorization', 'content-type'],
        maxAge: Duration.hours(1),
      },
    });
    const stage = new HttpStage(this, 'HttpStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: throttle ?? { rateLimit: 25, burstLimit: 50 },
      accessLogSettings: httpAccessLogs(this).settings,
    });

    return { api, stage };
  }

  /** The HTTP routes, each with its own function, and per-route throttles on the stage. */
  private addHttpRoutes(): void {
    for (const route of httpRoutes) {
      const handler = this.fn(route);
      const added = new HttpRoute(this, `${route.id}Route`, {
        httpApi: this.httpApi,
        routeKey: httpRouteKey(route.routeKey),
        integration: new HttpLambdaIntegration(`${route.id}Integration`, handler),
      });
      acknowledge(
        added,
        route.needs.adminKey
          ? 'Organiser route: the handler checks the admin key (Authorization: Bearer) against Secrets Manager.'
          : 'Public by design: anyone may read an event or get a viewer id (docs/security.md), within the stage and route throttles.',
        'AwsSolutions-APIG4',
      );
      this.httpStage.node.addDependency(added);
    }
    (this.httpStage.node.defaultChild as CfnStage).routeSettings = routeSettings(
      HTTP_ROUTE_THROTTLES,
      httpRoutes.map((r) => r.routeKey),
      'HTTP',
    );
  }

  /** The HTTP API's origin (the stage URL without its path): what the pages' CSP lets them fetch from. */
  get httpOrigin(): string {
    return `https://${this.httpHost}`;
  }

  /** The HTTP API's host name: CloudFront's origin for feeds and snapshots. */
  get httpHost(): string {
    return `${this.httpApi.apiId}.execute-api.${this.region}.${this.urlSuffix}`;
  }

  /** The WebSocket API's origin (the stage URL without `/live`): what the pages' CSP lets them connect to. */
  get wsOrigin(): string {
    return `wss://${this.webSocketApi.apiId}.execute-api.${this.region}.${this.urlSuffix}`;
  }

  /** A function for a route definition, with the environment and exactly the grants its `needs` declare. */
  private fn(
    def: FunctionDef,
    shape: Pick<LivecastFunctionProps, 'timeout' | 'memorySize' | 'recursiveLoop'> = {},
  ): NodejsFunction {
    const { needs } = def;
    const methods = connectionMethods(def.id, needs);
    const environment: Record<string, string> = {
      // The custom metrics' `stage` dimension: what the alarms watch (infra/monitoring.ts).
      [STAGE_ENV]: this.stage,
      ...tableEnv(
        Object.fromEntries(Object.entries(TABLES).map(([k, def]) => [k, this.table(def).tableName])) as TableNames,
      ),
      // callbackUrl is built from the API id and the stage's literal name, not from the stage resource, so
      // functions that are integrations of the API can carry it without a dependency cycle.
      ...(methods.length > 0 ? { [ENV.connectionsEndpoint]: this.webSocketStage.callbackUrl } : {}),
      ...(needs.adminKey ? { [ENV.adminKeySecretArn]: this.adminKey.secretArn } : {}),
      ...(this.siteOrigin ? { [ENV.siteOrigin]: this.siteOrigin } : {}),
      ...(needs.viewerSecret ? { [ENV.viewerSecretArn]: this.viewerSecret.secretArn } : {}),
      // The worker starts its own successor and finds its name in AWS_LAMBDA_FUNCTION_NAME.
      ...(needs.startWorkers && this.deliveryWorker ? { [ENV.workerFunction]: this.deliveryWorker.functionName } : {}),
      ...(needs.images?.length
        ? {
            [ENV.imagesBucket]: this.images.bucketName,
            [ENV.imagesBaseUrlParameter]: imagesBaseUrlParameter(this.stage),
          }
        : {}),
    };
    const { fn } = new LivecastFunction(this, def.id, {
      entry: def.entry,
      environment,
      ...shape,
      ...(def.tracing ? { tracing: true } : {}),
    });
    acknowledge(
      fn,
      'Nothing invokes it asynchronously without a failure path: API Gateway waits for its answer, stream failures go to StreamFailures, a missed schedule tick is redone by the next, and the worker has an on-failure destination (WorkerFailures).',
      'Serverless-LambdaDLQ',
    );

    for (const [tableDef, access] of needs.tables) {
      const table = this.table(tableDef);
      if (access === 'readWrite') table.grantReadWriteData(fn);
      else if (access === 'read') table.grantReadData(fn);
      else if (access.length === 0)
        throw new Error(`${def.id}: no actions listed for table '${tableDef.id}': leave the table out instead`);
      // The table's ARN alone (table.grant would add `<arn>/index/*` once the table has an index):
      // exactly the calls the code makes.
      else Grant.addToPrincipal({ grantee: fn, actions: [...new Set(access)], resourceArns: [table.tableArn] });
    }
    for (const [tableDef, index] of needs.indexQueries ?? []) {
      if (!tableDef.indexes?.some((i) => i.name === index.name))
        throw new Error(`${def.id}: table '${tableDef.id}' has no index '${index.name}'`);
      Grant.addToPrincipal({
        grantee: fn,
        actions: ['dynamodb:Query'],
        resourceArns: [`${this.table(tableDef).tableArn}/index/${index.name}`],
      });
    }
    if (methods.length > 0) {
      // Not grantManagementApiAccess: it allows every method (`<stage>/*/@connections/*`).
      Grant.addToPrincipal({
        grantee: fn,
        actions: ['execute-api:ManageConnections'],
        resourceArns: methods.map((method) => this.connectionsArn(method)),
      });
      for (const method of methods) {
        acknowledge(
          fn,
          'A connection id is known only at run time; the grant is already one method on one stage.',
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:${nagPseudo(this, 'Region')}:${nagPseudo(this, 'AccountId')}:${nagRef(this.webSocketApi)}/${this.webSocketStage.stageName}/${method}/@connections/*]`,
        );
      }
    }
    if (needs.adminKey) this.adminKey.grantRead(fn);
    if (needs.viewerSecret) this.viewerSecret.grantRead(fn);
    if (needs.images?.length) this.grantImages(fn, def.id, needs.images);
    if (needs.startWorkers && this.deliveryWorker) {
      this.deliveryWorker.grantInvoke(fn);
      acknowledge(
        fn,
        "grantInvoke's `:*` covers the worker's versions and aliases: still one function.",
        `AwsSolutions-IAM5[Resource::${nagRef(this.deliveryWorker, 'Arn')}:*]`,
      );
    }

    this.built[def.id] = fn;
    return fn;
  }

  /**
   * The photos' bucket, per prefix: presigning signs with the function's own s3:PutObject on
   * uploads/ (a presigned request carries its signer's rights, nothing more); publishing reads
   * uploads/ and images/ and writes images/ (CopyObject is a GetObject of the source and a PutObject
   * of the copy). s3:ListBucket makes a missing key a 404 (NoSuchKey: "not uploaded yet", a
   * bad_request) rather than a 403 that could not be told from a broken grant.
   */
  private grantImages(fn: NodejsFunction, id: string, access: readonly string[]): void {
    const uploads = this.images.arnForObjects(`${UPLOADS_PREFIX}*`);
    const images = this.images.arnForObjects(`${IMAGES_PREFIX}*`);
    const nagObjects = (prefix: string) =>
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::livecast-${this.stage}-images-${nagPseudo(this, 'AccountId')}-${nagPseudo(this, 'Region')}/${prefix}*]`;
    if (access.includes('presignUploads')) {
      Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [uploads] });
    }
    if (access.includes('publishImages')) {
      Grant.addToPrincipal({ grantee: fn, actions: ['s3:GetObject'], resourceArns: [uploads, images] });
      Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [images] });
      Grant.addToPrincipal({ grantee: fn, actions: ['s3:ListBucket'], resourceArns: [this.images.bucketArn] });
    }
    // Both answer the photos' public URL: the Web stack's parameter names the distribution.
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['ssm:GetParameter'],
      resourceArns: [
        this.formatArn({
          service: 'ssm',
          resource: 'parameter',
          resourceName: imagesBaseUrlParameter(this.stage).slice(1),
        }),
      ],
    });
    acknowledge(
      fn,
      `${id}: an image id is made at run time; the grant is one prefix of one bucket.`,
      ...(access.includes('presignUploads') || access.includes('publishImages') ? [nagObjects(UPLOADS_PREFIX)] : []),
      ...(access.includes('publishImages') ? [nagObjects(IMAGES_PREFIX)] : []),
    );
  }

  /** The management API's `@connections/{id}` under one method, on this stage only (AWS: `<api>/<stage>/POST/@connections/*`). */
  private connectionsArn(method: ConnectionMethod): string {
    const api = this.formatArn({ service: 'execute-api', resource: this.webSocketApi.apiId });
    return `${api}/${this.webSocketStage.stageName}/${method}/@connections/*`;
  }

  private streamTable(def: TableDef): ITable {
    const table = this.table(def);
    if (!def.stream || !table.tableStreamArn) throw new Error(`table '${def.id}' has no stream to consume`);
    return table;
  }

  private table(def: TableDef): ITable {
    const table = this.tables[def.id as TableId] as ITable | undefined;
    if (!table) throw new Error(`shared/routes.ts names table '${def.id}', which shared/tables.ts does not define`);
    return table;
  }
}

function pick<T>(all: Readonly<Record<string, T>>, ids: readonly string[]): Record<string, T> {
  return Object.fromEntries(
    ids.map((id) => {
      const value = all[id];
      if (!value) throw new Error(`no function '${id}' in the stack`);
      return [id, value];
    }),
  );
}

/** `METHOD /path` (the form shared/routes.ts writes) or `$default`, as the L2 wants it. */
export function httpRouteKey(routeKey: string): HttpRouteKey {
  if (routeKey === '$default') return HttpRouteKey.DEFAULT;
  const match = /^([A-Z]+) (\/\S*)$/.exec(routeKey);
  const method = match?.[1];
  const path = match?.[2];
  if (!method || !path || !(Object.values(HttpMethod) as string[]).includes(method)) {
    throw new Error(`bad HTTP route key '${routeKey}': expected 'METHOD /path' or '$default'`);
  }
  return HttpRouteKey.with(path, method as HttpMethod);
}
