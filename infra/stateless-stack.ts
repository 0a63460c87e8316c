// Stateless resources: the WebSocket and HTTP APIs and one function per route, wired by shared/routes.ts.
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import {
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
import { ArnPrincipal } from 'aws-cdk-lib/aws-iam';
import { RecursiveLoop, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ENV, TABLES, type TableNames, tableEnv } from '../shared/config';
import { deliveryWorker, httpRoutes, scheduled, streamTriggers, wsAuthorizer, wsRoutes, type FunctionDef } from '../shared/routes';
import type { TableDef } from '../shared/tables';
import { LivecastFunction, type LivecastFunctionProps } from './livecast-function';
import type { FailureQueues, LivecastTables, TableId } from './stateful-stack';

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
   * Inbound WebSocket messages share the account's 10,000 requests/s with the @connections posts of
   * the fan-out; capping them keeps most of that budget for delivery.
   * @default 2,000/s, burst 1,000
   */
  readonly wsThrottle?: ThrottleSettings;
  /** @default 1,000/s, burst 500 (same account budget as above) */
  readonly httpThrottle?: ThrottleSettings;
}

export class StatelessStack extends Stack {
  readonly webSocketApi: WebSocketApi;
  readonly webSocketStage: WebSocketStage;
  readonly httpApi: HttpApi;
  readonly httpStage: HttpStage;
  /** Every function, keyed by its id in shared/routes.ts. */
  readonly functions: Readonly<Record<string, NodejsFunction>>;
  readonly deliveryWorker: NodejsFunction;

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
    const wsStageName = props.wsStageName ?? 'live';

    this.webSocketApi = new WebSocketApi(this, 'WebSocketApi', {
      description: 'livecast live feed: reporters publish, viewers follow',
      routeSelectionExpression: '$request.body.action',
    });
    this.webSocketStage = new WebSocketStage(this, 'WebSocketStage', {
      webSocketApi: this.webSocketApi,
      stageName: wsStageName,
      autoDeploy: true,
      throttle: props.wsThrottle ?? { rateLimit: 2_000, burstLimit: 1_000 },
    });

    // Delivery first: the functions that start workers need the worker's name.
    this.deliveryWorker = this.fn(deliveryWorker, {
      timeout: Duration.seconds(deliveryWorker.timeoutSeconds),
      // A worker hands over to its successor (itself) every 15 minutes: Lambda's loop detection would
      // stop that chain at about 16 invocations, four hours into an event.
      recursiveLoop: RecursiveLoop.ALLOW,
    });
    // A crashed worker is retried (its lease has expired by then, so the retry takes over from its
    // cursor); one whose retries ran out, or that waited past the age limit behind throttling, is
    // kept for redrive. By then the watchdog has started another.
    this.deliveryWorker.configureAsyncInvoke({
      retryAttempts: deliveryWorker.async.retryAttempts,
      maxEventAge: Duration.seconds(deliveryWorker.async.maxEventAgeSeconds),
      onFailure: new SqsDestination(props.failureQueues.worker),
    });
    // Its successor is itself. An identity policy naming its own ARN would make the function depend on
    // itself; a resource policy for its role does not.
    this.deliveryWorker.addPermission('InvokedByItself', {
      principal: new ArnPrincipal(this.deliveryWorker.role!.roleArn),
      action: 'lambda:InvokeFunction',
    });
    for (const trigger of streamTriggers) {
      this.fn(trigger).addEventSource(
        new DynamoEventSource(this.streamTable(trigger.stream.table), {
          startingPosition: StartingPosition.LATEST,
          batchSize: trigger.stream.batchSize,
          maxBatchingWindow: Duration.seconds(trigger.stream.maxBatchingWindowSeconds),
          retryAttempts: trigger.stream.retryAttempts,
          maxRecordAge: Duration.seconds(trigger.stream.maxRecordAgeSeconds),
          bisectBatchOnError: trigger.stream.bisectBatchOnError,
          reportBatchItemFailures: trigger.stream.reportBatchItemFailures,
          // A batch whose retries ran out is not dropped: its shard and sequence numbers are kept for redrive.
          onFailure: new SqsDlq(props.failureQueues.streams),
        }),
      );
    }

    for (const def of scheduled) {
      new Rule(this, `${def.id}Schedule`, {
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
    }

    const authorizerFn = this.fn(wsAuthorizer, { timeout: Duration.seconds(10) });
    const authorizer = new WebSocketLambdaAuthorizer(`${wsAuthorizer.id}Authorizer`, authorizerFn, {
      identitySource: [...wsAuthorizer.identitySource],
    });

    for (const route of wsRoutes) {
      const handler = this.fn(route);
      this.webSocketApi.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${route.id}Integration`, handler),
        returnResponse: route.returnResponse,
        // API Gateway accepts an authorizer on $connect only; the handshake is the one gate.
        ...(route.routeKey === '$connect' ? { authorizer } : {}),
      });
    }

    this.httpApi = new HttpApi(this, 'HttpApi', {
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
    this.httpStage = new HttpStage(this, 'HttpStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.httpThrottle ?? { rateLimit: 1_000, burstLimit: 500 },
    });

    for (const route of httpRoutes) {
      const handler = this.fn(route);
      new HttpRoute(this, `${route.id}Route`, {
        httpApi: this.httpApi,
        routeKey: httpRouteKey(route.routeKey),
        integration: new HttpLambdaIntegration(`${route.id}Integration`, handler),
      });
    }

    new CfnOutput(this, 'WebSocketUrl', { value: this.webSocketStage.url, description: 'wss:// URL clients connect to' });
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

  /** A function for a route definition, with the environment and exactly the grants its `needs` declare. */
  private fn(def: FunctionDef, shape: Pick<LivecastFunctionProps, 'timeout' | 'memorySize' | 'recursiveLoop'> = {}): NodejsFunction {
    const { needs } = def;
    const environment: Record<string, string> = {
      ...tableEnv(
        Object.fromEntries(Object.entries(TABLES).map(([k, def]) => [k, this.table(def).tableName])) as TableNames,
      ),
      // callbackUrl is built from the API id and the stage's literal name, not from the stage resource, so
      // functions that are integrations of the API can carry it without a dependency cycle.
      ...(needs.manageConnections ? { [ENV.connectionsEndpoint]: this.webSocketStage.callbackUrl } : {}),
      ...(needs.adminKey ? { [ENV.adminKeySecretArn]: this.adminKey.secretArn } : {}),
      ...(needs.viewerSecret ? { [ENV.viewerSecretArn]: this.viewerSecret.secretArn } : {}),
      // The worker starts its own successor and finds its name in AWS_LAMBDA_FUNCTION_NAME.
      ...(needs.startWorkers && this.deliveryWorker ? { [ENV.workerFunction]: this.deliveryWorker.functionName } : {}),
    };
    const { fn } = new LivecastFunction(this, def.id, { entry: def.entry, environment, ...shape });

    for (const [tableDef, access] of needs.tables) {
      const table = this.table(tableDef);
      if (access === 'readWrite') table.grantReadWriteData(fn);
      else table.grantReadData(fn);
    }
    if (needs.manageConnections) this.webSocketStage.grantManagementApiAccess(fn);
    if (needs.adminKey) this.adminKey.grantRead(fn);
    if (needs.viewerSecret) this.viewerSecret.grantRead(fn);
    if (needs.startWorkers && this.deliveryWorker) this.deliveryWorker.grantInvoke(fn);

    this.built[def.id] = fn;
    return fn;
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
