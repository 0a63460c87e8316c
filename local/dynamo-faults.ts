// DynamoDB faults on purpose: an HTTP proxy in front of DynamoDB Local that answers a seeded share
// of the calls on chosen tables the way DynamoDB does when it throttles, cancels a transaction on a
// conflict, fails inside, or never answers. Every process of the stage (handlers and worker
// children) talks to DynamoDB through it, so one set of counters sees every injected fault.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { crc32 } from 'node:zlib';
import { listen } from './errors';
import { mulberry32 } from './aws-limits';
import { type TableDef, tables as tableDefs } from '../shared/tables';
import {
  conflicting,
  dataOperations,
  type DataOperation,
  defaultKinds,
  describeDynamoFaults,
  type DynamoFaultKind,
  dynamoFaultKinds,
  type DynamoFaults,
  readOperations,
  validateDynamoFaults,
  writeOperations,
} from './dynamo-faults-config';

// The configuration lives beside this file; its users import it from here, with the proxy.
export {
  describeDynamoFaults,
  dynamoFaultKinds,
  dynamoFaultsEnv,
  dynamoFaultsFromEnv,
  readOperations,
  validateDynamoFaults,
  writeOperations,
} from './dynamo-faults-config';
export type { DynamoFaultKind, DynamoFaults } from './dynamo-faults-config';

/** What was injected, by kind and by table id (a transaction over two chosen tables counts under both). */
export interface DynamoFaultCounts {
  /** Data-plane calls that went through the proxy. */
  calls: number;
  /** Calls that got a fault. */
  injected: number;
  byKind: Record<DynamoFaultKind, number>;
  byTable: Record<string, Partial<Record<DynamoFaultKind, number>>>;
  /** Of the conflicts, those `contention` gave (a write met a transaction in flight on its item), by table id. */
  contended: Record<string, number>;
}

/** The calls that touch a chosen table, what to do with each. */
export type DynamoVerdict = { fault: undefined } | { fault: DynamoFaultKind; tables: readonly string[] };

/**
 * The per-call decisions, in arrival order: the share draw and the kind draw come from separate
 * streams of the one seed, so the k-th eligible call's fate depends only on the seed and k.
 */
export class DynamoFaultPlan {
  readonly seed: number;
  private readonly shareDraw: () => number;
  private readonly kindDraw: () => number;
  private readonly kinds: readonly DynamoFaultKind[];
  private readonly operations: ReadonlySet<string>;
  private readonly counts: DynamoFaultCounts;

  constructor(private readonly faults: DynamoFaults) {
    validateDynamoFaults(faults);
    this.seed = faults.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.shareDraw = mulberry32(this.seed);
    this.kindDraw = mulberry32(this.seed ^ 0x85ebca6b);
    this.kinds = faults.kinds ?? defaultKinds;
    const ops = faults.operations ?? ['read', 'write'];
    this.operations = new Set(
      ops.flatMap((op) => (op === 'read' ? readOperations : op === 'write' ? writeOperations : [op])),
    );
    this.counts = {
      calls: 0,
      injected: 0,
      byKind: Object.fromEntries(dynamoFaultKinds.map((k) => [k, 0])) as Record<DynamoFaultKind, number>,
      byTable: {},
      contended: {},
    };
  }

  /** `tableIds`: the ids of the tables the call touches. */
  decide(operation: string, tableIds: readonly string[]): DynamoVerdict {
    if (!dataOperations.includes(operation)) return { fault: undefined };
    this.counts.calls++;
    if (!this.operations.has(operation)) return { fault: undefined };
    const chosen = this.faults.tables
      ? tableIds.filter((t) => this.faults.tables!.includes(t))
      : [...new Set(tableIds)];
    if (chosen.length === 0) return { fault: undefined };
    if (!(this.shareDraw() < this.faults.share)) return { fault: undefined };
    const possible = this.kinds.filter((k) => k !== 'conflict' || conflicting.includes(operation));
    if (possible.length === 0) return { fault: undefined };
    const fault = possible[Math.min(possible.length - 1, Math.floor(this.kindDraw() * possible.length))]!;
    this.counts.injected++;
    this.counts.byKind[fault]++;
    for (const t of chosen) {
      const byKind = (this.counts.byTable[t] ??= {});
      byKind[fault] = (byKind[fault] ?? 0) + 1;
    }
    return { fault, tables: chosen };
  }

  /** Counts a conflict that `contention` gave on `tableId` (its call was already counted by decide). */
  contended(tableId: string): void {
    this.counts.injected++;
    this.counts.byKind.conflict++;
    const byKind = (this.counts.byTable[tableId] ??= {});
    byKind.conflict = (byKind.conflict ?? 0) + 1;
    this.counts.contended[tableId] = (this.counts.contended[tableId] ?? 0) + 1;
  }

  stats(): DynamoFaultCounts {
    return structuredClone(this.counts);
  }
}

/** One item a write touches: its table's physical name and its key, as a string. */
export interface ItemRef {
  table: string;
  key: string;
}

/** The key attributes of `item` (DynamoDB JSON), in a fixed order, as a string; undefined when one is missing. */
function keyString(item: Json | undefined, names: readonly string[]): string | undefined {
  if (!item) return undefined;
  const parts: unknown[] = [];
  for (const name of names) {
    if (item[name] === undefined) return undefined;
    parts.push(item[name]);
  }
  return JSON.stringify(parts);
}

/**
 * The items a write names, in the order of its actions (a transaction's ConditionCheck included: it
 * is part of the transaction on AWS too). Reads, batches and anything unparsable: none.
 * `keyNames`: a physical table's key attribute names.
 */
export function itemsWritten(
  operation: string,
  body: Json,
  keyNames: (table: string) => readonly string[] | undefined,
): ItemRef[] {
  const ref = (table: string, action: Json | undefined): ItemRef[] => {
    const names = keyNames(table);
    if (!names || !action) return [];
    const key = keyString((action.Key ?? action.Item) as Json | undefined, names);
    return key === undefined ? [] : [{ table, key }];
  };
  switch (operation) {
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return typeof body.TableName === 'string' ? ref(body.TableName, body) : [];
    case 'TransactWriteItems':
      return ((body.TransactItems as Json[] | undefined) ?? []).flatMap((item) => {
        const action = Object.values(item)[0] as Json | undefined;
        return typeof action?.TableName === 'string' ? ref(action.TableName, action) : [];
      });
    default:
      return [];
  }
}

/**
 * Transaction conflicts as DynamoDB has them, from the calls themselves: DynamoDB refuses a
 * TransactWriteItems whose item is part of another transaction in progress (cancelled,
 * `TransactionConflict` at that item), and a PutItem, UpdateItem or DeleteItem of an item a
 * transaction in progress includes (TransactionConflictException). A transaction meeting a plain
 * write in progress is not refused (DynamoDB serializes those). So a hot item — one counter every
 * connect and every publish writes in a transaction — is refused in proportion to how many writes
 * overlap on it, which a fixed share of faults cannot show. "In progress" here is the call's time at
 * DynamoDB Local, behind this proxy: longer than on AWS (~10 ms a transaction) when the machine is
 * loaded, so it overlaps more than AWS would at the same rate.
 */
export class ItemContention {
  /** Transactions in flight, per item (`table` + key). */
  private readonly held = new Map<string, number>();

  /**
   * Decides a write: the index (among `items`) of the first item a transaction in flight holds, or
   * else a release to call when the write has its answer (a transaction holds its items until then).
   */
  claim(transaction: boolean, items: readonly ItemRef[]): { conflictAt: number } | { release: () => void } {
    const ids = items.map((i) => `${i.table}\u0000${i.key}`);
    const at = ids.findIndex((id) => (this.held.get(id) ?? 0) > 0);
    if (at !== -1) return { conflictAt: at };
    if (!transaction) return { release: () => {} };
    for (const id of ids) this.held.set(id, (this.held.get(id) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const id of ids) {
          const n = (this.held.get(id) ?? 1) - 1;
          if (n > 0) this.held.set(id, n);
          else this.held.delete(id);
        }
      },
    };
  }

  /** Items held now (tests). */
  size(): number {
    return this.held.size;
  }
}

type Json = Record<string, unknown>;

const defaultKeyNames = (tableId: string): readonly string[] | undefined => {
  const def: TableDef | undefined = tableDefs.find((t) => t.id === tableId);
  return def && [def.partitionKey.name, ...(def.sortKey ? [def.sortKey.name] : [])];
};

/** Physical table names in a request body, in the order its actions name them. */
export function tablesOf(operation: string, body: Json): string[] {
  switch (operation as DataOperation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys((body.RequestItems as Json | undefined) ?? {});
    case 'TransactWriteItems':
    case 'TransactGetItems':
      return ((body.TransactItems as Json[] | undefined) ?? []).map((item) => {
        const action = Object.values(item)[0] as Json | undefined;
        const name = action?.TableName;
        // A table name is a string; DynamoDB refuses the call otherwise, so nothing else needs a name here.
        return typeof name === 'string' ? name : '';
      });
    default:
      return typeof body.TableName === 'string' ? [body.TableName] : [];
  }
}

export interface DynamoAnswer {
  status: number;
  body: string;
}

const errorType = (name: string) => `com.amazonaws.dynamodb.v20120810#${name}`;
const arn = (table: string) => `arn:aws:dynamodb:${process.env.AWS_REGION ?? 'us-east-1'}:000000000000:table/${table}`;

/**
 * DynamoDB's answer for an injected refusal, in its JSON 1.0 wire shape (`__type` names the
 * error; the SDK's parser takes what follows `#` as the exception's name). `physical`: the names
 * in the request, in order; `chosen`: which of them the fault is about.
 */
export function refusal(
  kind: Exclude<DynamoFaultKind, 'timeout' | 'timeout-after-commit'>,
  operation: string,
  physical: readonly string[],
  chosen: (name: string) => boolean,
): DynamoAnswer {
  const table = physical.find(chosen) ?? physical[0] ?? '';
  const io = (readOperations as readonly string[]).includes(operation) ? 'Read' : 'Write';
  switch (kind) {
    case 'throughput':
      return {
        status: 400,
        body: JSON.stringify({
          __type: errorType('ProvisionedThroughputExceededException'),
          message:
            'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
          ThrottlingReasons: [{ reason: `Table${io}KeyRangeThroughputExceeded`, resource: arn(table) }],
        }),
      };
    case 'throttling':
      return {
        status: 400,
        body: JSON.stringify({
          __type: errorType('ThrottlingException'),
          message: 'Throughput exceeds the maximum OnDemandThroughput configured on table or index',
          throttlingReasons: [{ reason: `Table${io}MaxOnDemandThroughputExceeded`, resource: arn(table) }],
        }),
      };
    case 'internal':
      return {
        status: 500,
        body: JSON.stringify({ __type: errorType('InternalServerError'), message: 'Internal server error' }),
      };
    case 'conflict': {
      if (operation !== 'TransactWriteItems' && operation !== 'TransactGetItems') {
        return {
          status: 400,
          body: JSON.stringify({
            __type: errorType('TransactionConflictException'),
            message: 'Transaction is ongoing for the item',
          }),
        };
      }
      // One item of the transaction is in someone else's: it carries the reason, the others None.
      const at = Math.max(0, physical.findIndex(chosen));
      const codes = physical.map((_, i) => (i === at ? 'TransactionConflict' : 'None'));
      return {
        status: 400,
        body: JSON.stringify({
          __type: errorType('TransactionCanceledException'),
          CancellationReasons: codes.map((Code) =>
            Code === 'None' ? { Code } : { Code, Message: 'Transaction is ongoing for the item' },
          ),
          Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
        }),
      };
    }
  }
}

export interface DynamoFaultProxyOptions {
  /** DynamoDB Local's endpoint, `http://host:port`. */
  readonly upstream: string;
  readonly faults: DynamoFaults;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** A physical table name's id (`livecast-Entries` → `Entries`). @default the part after the last `-` */
  readonly tableIdOf?: (name: string) => string;
  /** A table id's key attribute names, for `contention`. @default those of shared/tables.ts */
  readonly keyNamesOf?: (tableId: string) => readonly string[] | undefined;
  readonly log?: (line: string) => void;
}

export interface DynamoFaultProxy {
  /** What the SDK clients take as `endpoint`. */
  readonly endpoint: string;
  readonly seed: number;
  stats(): DynamoFaultCounts;
  close(): Promise<void>;
}

export async function startDynamoFaultProxy(opts: DynamoFaultProxyOptions): Promise<DynamoFaultProxy> {
  const host = opts.host ?? '127.0.0.1';
  const upstream = new URL(opts.upstream);
  const plan = new DynamoFaultPlan(opts.faults);
  const holdMs = opts.faults.holdMs ?? 15_000;
  const tableIdOf = opts.tableIdOf ?? ((name: string) => name.slice(name.lastIndexOf('-') + 1));
  const keyNamesOf = opts.keyNamesOf ?? defaultKeyNames;
  const contended = opts.faults.contention ? new Set(opts.faults.contention) : undefined;
  const contention = new ItemContention();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const holds = new Set<NodeJS.Timeout>();

  const answer = (res: http.ServerResponse, { status, body }: DynamoAnswer) => {
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': String(Buffer.byteLength(body)),
      'x-amzn-requestid': randomUUID(),
      'x-amz-crc32': String(crc32(body)),
    });
    res.end(body);
  };

  /** Passes the call to DynamoDB Local; resolves with its whole answer. */
  const forward = (req: http.IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const up = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      up.on('error', reject);
      up.end(body);
    });

  /** Cuts the caller's connection without an answer, as a lost response does. */
  const cut = (req: http.IncomingMessage) => req.socket.destroy();

  const server = http.createServer({ keepAlive: true, noDelay: true });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('DynamoDB_20120810.') ? target.slice(target.indexOf('.') + 1) : '';
      let verdict: DynamoVerdict = { fault: undefined };
      let physical: string[] = [];
      let parsed: Json | undefined;
      if (operation !== '') {
        try {
          parsed = JSON.parse(body.toString('utf8')) as Json;
          physical = tablesOf(operation, parsed);
        } catch {
          // Not JSON: DynamoDB Local gives the caller its own SerializationException.
        }
        verdict = plan.decide(operation, physical.map(tableIdOf));
      }
      const { fault } = verdict;
      if (fault === 'timeout') {
        const timer = setTimeout(() => {
          holds.delete(timer);
          cut(req);
        }, holdMs);
        holds.add(timer);
        // The caller's own timeout usually ends it first.
        req.socket.once('close', () => {
          clearTimeout(timer);
          holds.delete(timer);
        });
        return;
      }
      if (fault !== undefined && fault !== 'timeout-after-commit') {
        const chosen = new Set(verdict.fault ? verdict.tables : []);
        answer(
          res,
          refusal(fault, operation, physical, (name) => chosen.has(tableIdOf(name))),
        );
        return;
      }
      // Contention: only a call that reaches the table can meet (or hold) a transaction there.
      let release = () => {};
      if (contended && parsed) {
        const items = itemsWritten(operation, parsed, (name) => keyNamesOf(tableIdOf(name))).filter((i) =>
          contended.has(tableIdOf(i.table)),
        );
        const claim = contention.claim(operation === 'TransactWriteItems', items);
        if ('conflictAt' in claim) {
          const { table } = items[claim.conflictAt]!;
          plan.contended(tableIdOf(table));
          answer(
            res,
            refusal('conflict', operation, physical, (name) => name === table),
          );
          return;
        }
        release = claim.release;
      }
      const result = await forward(req, body).finally(release);
      if (fault === 'timeout-after-commit') return cut(req);
      res.writeHead(result.status, result.headers);
      res.end(result.body);
    })().catch((err: unknown) => {
      opts.log?.(
        `dynamodb faults: ${String(req.headers['x-amz-target'] ?? req.url)}: ${err instanceof Error ? err.message : String(err)}`,
      );
      // DynamoDB Local itself failed (stopped, restarting): the caller sees a cut connection, as it would without the proxy.
      cut(req);
    });
  });

  const port = await listen(server, opts.port ?? 0, host, 'LIVECAST_FAULT_DDB_PORT', 'DynamoDB fault proxy');
  opts.log?.(`DynamoDB faults: ${describeDynamoFaults(opts.faults, plan.seed)}`);
  return {
    endpoint: `http://${host}:${port}`,
    seed: plan.seed,
    stats: () => plan.stats(),
    async close() {
      for (const t of holds) clearTimeout(t);
      holds.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}
