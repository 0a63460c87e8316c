// Stateful resources (tables, the organiser's admin key), kept apart so the API stack can be replaced freely.
import { Aws, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  type ITable,
} from 'aws-cdk-lib/aws-dynamodb';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { IMAGES_PREFIX, UPLOADS_PREFIX } from '../shared/domain/images';
import { failureQueues } from '../shared/routes';
import { tables, type KeyDef, type TableDef } from '../shared/tables';
import { acknowledge } from './nag';
import { imagesBucketName, STAGES, type StageSettings } from './stages';

export type FailureQueueKey = keyof typeof failureQueues;
export type FailureQueues = Readonly<Record<FailureQueueKey, IQueue>>;

export type TableId = (typeof tables)[number]['id'];
export type LivecastTables = Readonly<Record<TableId, ITable>>;

const attributeType = { S: AttributeType.STRING, N: AttributeType.NUMBER } as const;

export interface StatefulStackProps extends StackProps {
  /** What a stack deletion or a replacement does to what this stack holds (infra/stages.ts). @default dev's */
  readonly stage?: Pick<StageSettings, 'durableRemoval' | 'workingRemoval' | 'deletionProtection'>;
  /**
   * The pages' origin (`https://live.example.com`), the one a browser may upload photos from (the
   * bucket's CORS). Without a custom domain the distribution's *.cloudfront.net name is made by the
   * Web stack, which deploys after this one: `https://*.cloudfront.net` then.
   */
  readonly pagesOrigin?: string;
  /** The stage's name: the photos' bucket is named from it (infra/stages.ts imagesBucketName). @default 'prod' */
  readonly stageName?: string;
}

function key(def: KeyDef) {
  return { name: def.name, type: attributeType[def.type] };
}

export class StatefulStack extends Stack {
  /** One table per definition in shared/tables.ts, keyed by its id. */
  readonly tables: LivecastTables;
  /** The organiser's admin key (HTTP `Authorization: Bearer`). Its value never leaves Secrets Manager at deploy time. */
  readonly adminKey: ISecret;
  /** The key viewer ids are signed with (POST /viewers signs, the $connect authorizer verifies). */
  readonly viewerSecret: ISecret;
  /**
   * Where failures are kept until redriven: the stream batches whose retries ran out, and the delivery
   * worker's failed asynchronous invocations. Here, not in the API stack, because what they hold is
   * the record of work still owed: tearing down the API stack must not throw it away.
   */
  readonly failureQueues: FailureQueues;
  /**
   * The photos: uploads under `uploads/` (presigned POSTs from the console; abandoned ones expire
   * after a day), published ones under `images/` (served by the Web stack's distribution).
   */
  readonly images: Bucket;

  private readonly stage: NonNullable<StatefulStackProps['stage']>;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);
    this.stage = props.stage ?? STAGES.dev;

    const built: Partial<Record<TableId, ITable>> = {};
    for (const def of tables) built[def.id] = this.table(def);
    this.tables = built as LivecastTables;

    this.adminKey = new Secret(this, 'AdminKey', {
      description: 'livecast organiser admin key (Authorization: Bearer <key> on the HTTP API)',
      generateSecretString: { excludePunctuation: true, includeSpace: false, passwordLength: 48 },
      removalPolicy: this.stage.durableRemoval,
    });
    acknowledge(
      this.adminKey,
      'The organiser rotates the admin key by hand in Secrets Manager (every function reads it again within 5 minutes); there is no system to hand a scheduled rotation to.',
      'AwsSolutions-SMG4',
    );

    // Kept with the data: replacing it refuses every viewer id the pages hold (they ask for new ones).
    this.viewerSecret = new Secret(this, 'ViewerIdSecret', {
      description: 'livecast viewer id signing key (HMAC-SHA256)',
      generateSecretString: { excludePunctuation: true, includeSpace: false, passwordLength: 64 },
      removalPolicy: this.stage.durableRemoval,
    });
    acknowledge(
      this.viewerSecret,
      'Rotating the viewer id key refuses every viewer id the pages hold, so it is rotated by hand, between events, not on a schedule.',
      'AwsSolutions-SMG4',
    );

    const queues: Partial<Record<FailureQueueKey, IQueue>> = {};
    for (const [key, def] of Object.entries(failureQueues) as [
      FailureQueueKey,
      (typeof failureQueues)[FailureQueueKey],
    ][]) {
      queues[key] = new Queue(this, def.id, {
        // SQS's longest: two weeks to notice and redrive.
        retentionPeriod: Duration.days(14),
        // SQS-managed keys: encrypted at rest with no KMS grants for Lambda to need.
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // Unredriven failures are owed work: kept like the event's record.
        removalPolicy: this.stage.durableRemoval,
      });
      acknowledge(
        queues[key],
        'This queue is the end of the line: it holds Lambda on-failure records (a failure destination, not an SQS redrive target) until `npm run redrive` replays them.',
        'AwsSolutions-SQS3',
        'Serverless-SQSRedrivePolicy',
      );
      new CfnOutput(this, `${def.id}QueueUrl`, {
        value: queues[key].queueUrl,
        description: `failure queue: ${key} (npm run redrive reads it)`,
      });
    }
    this.failureQueues = queues as FailureQueues;

    this.images = this.imagesBucket(imagesBucketName(this, props.stageName ?? 'prod'), props.pagesOrigin);

    new CfnOutput(this, 'AdminKeySecretArn', { value: this.adminKey.secretArn });
    new CfnOutput(this, 'AdminKeySecretName', {
      value: this.adminKey.secretName,
      description: 'aws secretsmanager get-secret-value --secret-id <this> reads the key',
    });
  }

  private imagesBucket(bucketName: string, pagesOrigin: string | undefined): Bucket {
    const bucket = new Bucket(this, 'Images', {
      bucketName,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Published photos are part of the event's record, kept like its entries.
      removalPolicy: this.stage.durableRemoval,
      lifecycleRules: [
        // An upload no update published within a day is abandoned (a presigned POST lives 15 minutes,
        // an outbox retries for hours at most); published photos were copied to images/ at publish.
        { id: 'abandoned-uploads', prefix: UPLOADS_PREFIX, expiration: Duration.days(1) },
        { id: 'incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // The console's XMLHttpRequest POST (upload progress: a preflighted request) from the pages'
      // origin. The policy in the presigned form is what admits a file; CORS only lets the page read
      // S3's answer.
      cors: [
        {
          allowedMethods: [HttpMethods.POST],
          allowedOrigins: [pagesOrigin ?? 'https://*.cloudfront.net'],
          allowedHeaders: ['*'],
          exposedHeaders: ['ETag', 'Location'],
          maxAge: 600,
        },
      ],
    });
    // The Web stack's distribution reads images/ (origin access control). Its ARN would make this
    // stack depend on the Web stack, which depends on the API stack, which depends on this one: the
    // statement names the account's distributions instead. What they may read is images/ alone,
    // which is public through the CDN anyway; uploads/ stay unreadable to CloudFront.
    bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudFrontReadsPublishedImages',
        principals: [new ServicePrincipal('cloudfront.amazonaws.com')],
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(`${IMAGES_PREFIX}*`)],
        conditions: {
          ArnLike: { 'AWS:SourceArn': `arn:${Aws.PARTITION}:cloudfront::${Aws.ACCOUNT_ID}:distribution/*` },
        },
      }),
    );
    acknowledge(
      bucket,
      "Requests reach it through CloudFront (logged there, issue 12) and the functions' presigned POSTs and copies (CloudTrail data events if ever needed); server access logs would be a second bucket to keep.",
      'AwsSolutions-S1',
    );
    return bucket;
  }

  private table(def: TableDef): Table {
    const table = new Table(this, def.id, {
      partitionKey: key(def.partitionKey),
      ...(def.sortKey ? { sortKey: key(def.sortKey) } : {}),
      ...(def.timeToLiveAttribute ? { timeToLiveAttribute: def.timeToLiveAttribute } : {}),
      billingMode: BillingMode.PAY_PER_REQUEST,
      // Connection rows are rebuilt by reconnecting clients; everything else is the event's record.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: def.durable },
      removalPolicy: def.durable ? this.stage.durableRemoval : this.stage.workingRemoval,
      // Refused by DynamoDB itself, whoever asks: a console click or a script, not only CloudFormation.
      deletionProtection: def.durable && this.stage.deletionProtection,
      ...(def.stream ? { stream: StreamViewType[def.stream] } : {}),
    });
    for (const index of def.indexes ?? []) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: key(index.partitionKey),
        ...(index.sortKey ? { sortKey: key(index.sortKey) } : {}),
        ...(index.nonKeyAttributes.length > 0
          ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.nonKeyAttributes] }
          : { projectionType: ProjectionType.KEYS_ONLY }),
      });
    }
    if (!def.durable) {
      acknowledge(
        table,
        "Working state, not the event's record (live connections, delivery leases and cursors, rate-limit windows): a point-in-time restore, into a new table, would be stale on arrival.",
        'AwsSolutions-DDB3',
      );
    }
    return table;
  }
}
