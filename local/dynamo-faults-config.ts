// What DynamoDB faults to inject (local/dynamo-faults.ts injects them): the kinds, the settings,
// read from LIVECAST_FAULT_DDB_* or given by a test, checked before a stage starts with them.

/**
 * - `throughput`: 400 ProvisionedThroughputExceededException (a hot key range).
 * - `throttling`: 400 ThrottlingException (the table's on-demand maximum).
 * - `conflict`: TransactWriteItems / TransactGetItems cancelled with a `TransactionConflict` reason;
 *   PutItem / UpdateItem / DeleteItem refused with TransactionConflictException (the item is in
 *   someone's transaction). Other operations cannot conflict on AWS and are not given this fault.
 * - `internal`: 500 InternalServerError.
 * - `timeout`: no answer; the connection is cut after `holdMs`, the request never reached the table.
 * - `timeout-after-commit`: the request runs on DynamoDB Local, then the answer is dropped and the
 *   connection cut: the write happened and the caller never heard (what a lost response does on AWS).
 */
export const dynamoFaultKinds = [
  'throughput',
  'throttling',
  'conflict',
  'internal',
  'timeout',
  'timeout-after-commit',
] as const;
export type DynamoFaultKind = (typeof dynamoFaultKinds)[number];

export const readOperations = ['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems'] as const;
export const writeOperations = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'] as const;
export type DataOperation = (typeof readOperations)[number] | (typeof writeOperations)[number];
export const dataOperations: readonly string[] = [...readOperations, ...writeOperations];
/** The operations that AWS can refuse on a transaction conflict. */
export const conflicting: readonly string[] = [
  'TransactWriteItems',
  'TransactGetItems',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
];

export interface DynamoFaults {
  /** Share (0..1) of the eligible calls that get a fault. */
  share: number;
  /**
   * The tables whose calls are eligible, by the id in shared/tables.ts (`Entries`, `Changes`…);
   * a call touching several (a transaction) is eligible when any of them is. Unset: every table.
   */
  tables?: readonly string[];
  /** Which faults to draw from, uniformly among those the operation can meet. @default every kind but `timeout-after-commit` */
  kinds?: readonly DynamoFaultKind[];
  /** Eligible operations: names, or `read` / `write` for the groups above. @default every read and write */
  operations?: readonly string[];
  /**
   * How long a timed-out call is held before its connection is cut (a client with a shorter
   * timeout gives up first). @default 15000: past the 10 s `requestTimeout` of the handlers' clients
   */
  holdMs?: number;
  /** Seeds the draws. Unset: random, reported by describeDynamoFaults. */
  seed?: number;
  /**
   * Tables (ids) whose items conflict as DynamoDB's do, drawn from nothing: a write meeting an item
   * that a transaction still in flight here is writing is refused with a conflict (see
   * ItemContention). Independent of `share`, which may be 0. Unset: no such conflicts.
   */
  contention?: readonly string[];
}

/** The variables dynamoFaultsFromEnv reads, by field. */
export const dynamoFaultsEnv = {
  share: 'LIVECAST_FAULT_DDB_SHARE',
  tables: 'LIVECAST_FAULT_DDB_TABLES',
  kinds: 'LIVECAST_FAULT_DDB_KINDS',
  operations: 'LIVECAST_FAULT_DDB_OPERATIONS',
  holdMs: 'LIVECAST_FAULT_DDB_HOLD_MS',
  seed: 'LIVECAST_FAULT_SEED',
  contention: 'LIVECAST_FAULT_DDB_CONTENTION',
} as const satisfies Record<keyof DynamoFaults, string>;

export const defaultKinds: readonly DynamoFaultKind[] = ['throughput', 'throttling', 'conflict', 'internal', 'timeout'];
const decimal = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const list = (raw: string) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * The faults configured in the environment; undefined when LIVECAST_FAULT_DDB_SHARE is unset or
 * empty. `throttle` in the kinds stands for both throttling answers. A malformed value throws an
 * Error naming the variable, so a chaos run never starts quietly without its faults.
 */
export function dynamoFaultsFromEnv(env: NodeJS.ProcessEnv, knownTables?: readonly string[]): DynamoFaults | undefined {
  const get = (field: keyof DynamoFaults) => {
    const raw = env[dynamoFaultsEnv[field]]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const number = (field: keyof DynamoFaults) => {
    const raw = get(field);
    if (raw === undefined) return undefined;
    if (!decimal.test(raw)) throw new Error(`${dynamoFaultsEnv[field]} must be a number, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const share = number('share');
  const contention = get('contention');
  if (share === undefined && contention === undefined) {
    const stray = (['tables', 'kinds', 'operations', 'holdMs'] as const).find((f) => get(f) !== undefined);
    if (stray)
      throw new Error(`${dynamoFaultsEnv[stray]} needs ${dynamoFaultsEnv.share}: without a share no fault is injected`);
    return undefined;
  }
  // Contention alone draws nothing: its conflicts come from the calls themselves.
  const faults: DynamoFaults = { share: share ?? 0 };
  if (contention !== undefined) faults.contention = list(contention);
  const tables = get('tables');
  if (tables !== undefined) faults.tables = list(tables);
  const kinds = get('kinds');
  if (kinds !== undefined) {
    faults.kinds = list(kinds).flatMap((k) =>
      k === 'throttle' ? ['throughput', 'throttling'] : [k],
    ) as DynamoFaultKind[];
  }
  const operations = get('operations');
  if (operations !== undefined) faults.operations = list(operations);
  const holdMs = number('holdMs');
  if (holdMs !== undefined) faults.holdMs = holdMs;
  const seed = number('seed');
  if (seed !== undefined) faults.seed = seed;
  return validateDynamoFaults(faults, knownTables, (field) => dynamoFaultsEnv[field]);
}

/** Checks every field and returns the same object; otherwise throws an Error naming the field (as `name` spells it). */
export function validateDynamoFaults(
  faults: DynamoFaults,
  knownTables?: readonly string[],
  name: (field: keyof DynamoFaults) => string = (field) => field,
): DynamoFaults {
  const fail = (field: keyof DynamoFaults, expected: string) => {
    throw new Error(`${name(field)} must be ${expected}, got ${JSON.stringify(faults[field])}`);
  };
  if (!(Number.isFinite(faults.share) && faults.share >= 0 && faults.share <= 1))
    fail('share', 'a share between 0 and 1');
  if (faults.tables !== undefined) {
    if (faults.tables.length === 0) fail('tables', 'at least one table');
    const unknown = knownTables && faults.tables.filter((t) => !knownTables.includes(t));
    if (unknown?.length) fail('tables', `table ids among ${knownTables!.join(', ')}`);
  }
  if (faults.kinds !== undefined) {
    if (faults.kinds.length === 0 || faults.kinds.some((k) => !(dynamoFaultKinds as readonly string[]).includes(k))) {
      fail('kinds', `a list of throttle, ${dynamoFaultKinds.join(', ')}`);
    }
  }
  if (faults.operations !== undefined) {
    const ok = (op: string) => op === 'read' || op === 'write' || dataOperations.includes(op);
    if (faults.operations.length === 0 || !faults.operations.every(ok))
      fail('operations', `a list of read, write, ${dataOperations.join(', ')}`);
  }
  if (faults.holdMs !== undefined && !(Number.isFinite(faults.holdMs) && faults.holdMs >= 0))
    fail('holdMs', 'a number of milliseconds >= 0');
  if (faults.seed !== undefined && !Number.isSafeInteger(faults.seed)) fail('seed', 'an integer');
  if (faults.contention !== undefined) {
    if (faults.contention.length === 0) fail('contention', 'at least one table');
    const unknown = knownTables && faults.contention.filter((t) => !knownTables.includes(t));
    if (unknown?.length) fail('contention', `table ids among ${knownTables!.join(', ')}`);
  }
  return faults;
}

/** One line for the start-up log, including the seed actually used. */
export function describeDynamoFaults(faults: DynamoFaults, seed: number): string {
  return (
    `${faults.share * 100}% of ${faults.operations?.join('/') ?? 'read/write'} calls on ${faults.tables?.join(', ') ?? 'every table'}: ` +
    `${(faults.kinds ?? defaultKinds).join(', ')} (seed ${seed})` +
    (faults.contention ? `; conflicts with transactions in flight on ${faults.contention.join(', ')}` : '')
  );
}
