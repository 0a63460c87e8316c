// The one Lambda shape every livecast function shares: Node 24 on arm64, bundled by the local esbuild as ESM.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, type RecursiveLoop, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** The repository root: entries, the lock file and esbuild's working directory are all relative to it. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ESM output has no `require`; CommonJS dependencies bundled into it (parts of the SDK's tree) still call it.
export const requireBanner =
  "import { createRequire as __livecastCreateRequire } from 'node:module'; const require = __livecastCreateRequire(import.meta.url);";

/** esbuild's target for every function: the Lambda runtime's Node. */
export const BUNDLE_TARGET = 'node24';

/**
 * What CDK's `bundling` below asks of esbuild, as esbuild's own options: the bundles test and
 * `npm run bench -- bundles` build with exactly these, so what they measure is what deploys.
 */
export function deployedBuildOptions() {
  return {
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: BUNDLE_TARGET,
    mainFields: ['module', 'main'],
    banner: { js: requireBanner },
    minify: true,
  };
}

export interface LivecastFunctionProps {
  /** Entry file relative to the project root; it exports `handler`. */
  readonly entry: string;
  readonly environment?: Readonly<Record<string, string>>;
  /** @default 512 */
  readonly memorySize?: number;
  /** API Gateway gives an integration at most 29 s, so a function running longer only burns money. @default 29 s */
  readonly timeout?: Duration;
  /** @default one month */
  readonly logRetention?: RetentionDays;
  /** @default Lambda's: Terminate (a chain of invocations is stopped after about 16) */
  readonly recursiveLoop?: RecursiveLoop;
  /** X-Ray active tracing, and Powertools Tracer on (POWERTOOLS_TRACE_ENABLED). @default false */
  readonly tracing?: boolean;
}

export class LivecastFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: LivecastFunctionProps) {
    super(scope, id);

    // An explicit log group so retention is a plain CloudFormation property, not the LogRetention custom resource.
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.fn = new NodejsFunction(this, 'Function', {
      entry: path.resolve(projectRoot, props.entry),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(29),
      logGroup: this.logGroup,
      ...(props.recursiveLoop ? { recursiveLoop: props.recursiveLoop } : {}),
      ...(props.tracing ? { tracing: Tracing.ACTIVE } : {}),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        // Off where the function is not traced: Powertools Tracer would otherwise look for a segment Lambda never made.
        POWERTOOLS_TRACE_ENABLED: props.tracing ? 'true' : 'false',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: requireBanner,
        target: BUNDLE_TARGET,
        minify: true,
        sourceMap: true,
        // Line mapping is what stack traces need; embedding every dependency's source would double the asset.
        sourcesContent: false,
        // Pin the SDK version we tested with instead of whatever the runtime happens to ship.
        externalModules: [],
        logLevel: LogLevel.WARNING,
      },
    });
    acknowledge(
      this.fn,
      "AWSLambdaBasicExecutionRole is AWS's own grant for a function to write its logs; a copy of it written here would only drift.",
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    );
    if (props.tracing) {
      acknowledge(
        this.fn,
        "Active tracing's grant: X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions, so '*' is the only resource they take.",
        'AwsSolutions-IAM5[Resource::*]',
      );
    } else {
      acknowledge(
        this.fn,
        'Traced: the publish path and the delivery worker, where latency is the product. The rest are a DynamoDB call or two behind API Gateway or a stream, whose Lambda Duration, API Gateway latency and iterator age metrics already show; traces of them would bill per request for nothing new.',
        'Serverless-LambdaTracing',
      );
    }
  }
}
