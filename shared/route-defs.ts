// The shapes of the route table (shared/routes.ts): what a function is, what it may touch (its
// `needs`, from which the stack's grants, the local stage's grants and the least-privilege report
// are all derived), and how each kind of function is triggered.
import type { IndexDef, TableDef } from './tables';

/**
 * The DynamoDB calls a function may make on a table, named as the API names them. A
 * TransactWriteItems needs the action of each of its items (Put → PutItem, Update → UpdateItem,
 * Delete → DeleteItem, ConditionCheck → ConditionCheckItem: AWS's "Using IAM with DynamoDB
 * transactions"); paginated Queries need only Query.
 */
export type DynamoOp =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'Scan'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem'
  | 'DescribeTable';
export type DynamoAction = `dynamodb:${DynamoOp}`;

/**
 * What a function may do to a table: the exact IAM actions of the calls its handler, the domain
 * services it uses and their adapters (shared/adapters/dynamo-*.ts) make. A new call there must add
 * its action here, or it is refused on AWS (IAM is not enforced on the local stage).
 * `'read'`/`'readWrite'` (CDK's grantReadData / grantReadWriteData: Scan, DeleteItem,
 * BatchWriteItem… whether used or not) are still accepted while routes are converted; new ones
 * should list their actions.
 */
export type Access = readonly DynamoAction[] | 'read' | 'readWrite';

/** The IAM actions for these DynamoDB calls: `may('GetItem', 'Query')`. */
export const may = (...ops: readonly DynamoOp[]): readonly DynamoAction[] => ops.map((op) => `dynamodb:${op}` as const);

/** The management API's methods on `@connections/{id}`: POST sends, GET reads a connection, DELETE closes it. */
export type ConnectionMethod = 'POST' | 'GET' | 'DELETE';

export interface Needs {
  readonly tables: ReadonlyArray<readonly [TableDef, Access]>;
  /**
   * Queries on a table's global secondary indexes, granted on `<table>/index/<name>` alone: a grant
   * on the table does not cover its indexes, and one on an index does not cover the table.
   */
  readonly indexQueries?: ReadonlyArray<readonly [TableDef, IndexDef]>;
  /**
   * Calls the API Gateway management API, with exactly these methods (`execute-api:ManageConnections`
   * on `<stage>/<METHOD>/@connections/*`). `true` means `['POST']`, all any function did before
   * methods could be named.
   */
  readonly manageConnections?: boolean | readonly ConnectionMethod[];
  /** Reads the organiser's admin key. */
  readonly adminKey?: boolean;
  /** Starts delivery workers (asynchronous invocations of `deliveryWorker`). */
  readonly startWorkers?: boolean;
  /** Signs or verifies viewer ids (the viewer id secret). */
  readonly viewerSecret?: boolean;
  /**
   * The photos' bucket: `presignUploads` signs POSTs to `uploads/*` (s3:PutObject there, nothing
   * else: a presigned request carries its signer's rights). `publishImages` reads uploads (s3:GetObject
   * on `uploads/*`, and on `images/*` for a retry whose upload is gone) and copies them to `images/*`
   * (s3:PutObject there).
   */
  readonly images?: readonly ImageAccess[];
}

export type ImageAccess = 'presignUploads' | 'publishImages';

/** The management API methods a function's needs name: `true` is POST alone (what it meant before methods were named). */
export function connectionMethods(id: string, needs: Needs): readonly ConnectionMethod[] {
  const declared = needs.manageConnections;
  if (declared === undefined || declared === false) return [];
  if (declared === true) return ['POST'];
  if (declared.length === 0) throw new Error(`${id}: manageConnections lists no methods: leave it out instead`);
  const known: readonly string[] = ['POST', 'GET', 'DELETE'];
  const unknown = declared.find((m) => !known.includes(m));
  if (unknown !== undefined)
    throw new Error(`${id}: manageConnections names '${unknown}'; the management API has POST, GET and DELETE`);
  return [...new Set(declared)];
}

export interface FunctionDef {
  /** Construct id and the stem of the function's name. */
  readonly id: string;
  /** Entry file, relative to the project root; it exports `handler`. */
  readonly entry: string;
  readonly needs: Needs;
  /** X-Ray active tracing (Powertools Tracer): the publish path and the delivery worker. */
  readonly tracing?: boolean;
}

export interface WsRouteDef extends FunctionDef {
  readonly routeKey: string;
  /** @default 29 (the shared function default, API Gateway's integration limit) */
  readonly timeoutSeconds?: number;
  /** Whether the handler's return body is sent back to the caller (a route response). */
  readonly returnResponse: boolean;
}

export interface HttpRouteDef extends FunctionDef {
  /** `METHOD /path/{param}` as API Gateway HTTP APIs write it, or `$default`. */
  readonly routeKey: string;
}

export interface StreamTriggerDef extends FunctionDef {
  /** The table whose stream it consumes, with the event source mapping's batching. */
  readonly stream: {
    table: TableDef;
    batchSize: number;
    maxBatchingWindowSeconds: number;
    retryAttempts: number;
    /** Records older than this are not retried any more: they go to the failure queue. */
    maxRecordAgeSeconds: number;
    /** A failing batch is split in two and each half retried (finds the one bad record). */
    bisectBatchOnError: boolean;
    /** The handler answers `{ batchItemFailures: [{ itemIdentifier: sequenceNumber }] }`: only from the first failed record on is retried. */
    reportBatchItemFailures: boolean;
  };
}

export interface ScheduledDef extends FunctionDef {
  /** How often it runs (an EventBridge rate; a minute is the shortest). */
  readonly everyMinutes: number;
  /** @default 29 (the shared function default) */
  readonly timeoutSeconds?: number;
  /** @default 512 (the shared function default) */
  readonly memoryMB?: number;
}
