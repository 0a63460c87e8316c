// Least privilege, checked locally: IAM is not enforced on the local stage, so a function that
// calls a table with an action shared/routes.ts does not grant it would pass every test and fail on
// AWS with AccessDeniedException. The stage runs each handler invocation as its function
// (AsyncLocalStorage) and refuses, at the DynamoDB client and at the @connections adapters, any call
// its `needs` do not declare — the same refusal, in `npm test`.
import { AsyncLocalStorage } from 'node:async_hooks';
import { checkDynamoCalls } from '../shared/adapters/aws-clients';
import { checkConnectionCalls } from '../shared/adapters/connection-calls';
import { type ConnectionMethod, connectionMethods, type FunctionDef } from '../shared/routes';
import { tables as tableDefs } from '../shared/tables';

const running = new AsyncLocalStorage<FunctionDef>();

/** Runs `fn` as the function `def`: its DynamoDB calls are checked against `def.needs`. */
export function asFunction<T>(def: FunctionDef, fn: () => T): T {
  return running.run(def, fn);
}

const DOCUMENT_COMMANDS: Record<string, string> = {
  GetCommand: 'GetItemCommand',
  PutCommand: 'PutItemCommand',
  UpdateCommand: 'UpdateItemCommand',
  DeleteCommand: 'DeleteItemCommand',
  BatchGetCommand: 'BatchGetItemCommand',
  BatchWriteCommand: 'BatchWriteItemCommand',
  TransactWriteCommand: 'TransactWriteItemsCommand',
  TransactGetCommand: 'TransactGetItemsCommand',
};

/** The IAM actions a DynamoDB command needs, by physical table name. */
export function actionsOf(commandName: string, input: Record<string, unknown>): [table: string, action: string][] {
  // lib-dynamodb's commands (GetCommand…) and the client's (GetItemCommand…) alike.
  const command = DOCUMENT_COMMANDS[commandName] ?? commandName;
  const one = (action: string): [string, string][] => [[String(input.TableName), `dynamodb:${action}`]];
  switch (command) {
    case 'GetItemCommand':
    case 'PutItemCommand':
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      return one(command.replace(/Command$/, ''));
    case 'QueryCommand':
      return one('Query');
    case 'ScanCommand':
      return one('Scan');
    case 'BatchGetItemCommand':
      return Object.keys(input.RequestItems ?? {}).map((t) => [t, 'dynamodb:BatchGetItem']);
    case 'BatchWriteItemCommand':
      return Object.keys(input.RequestItems ?? {}).map((t) => [t, 'dynamodb:BatchWriteItem']);
    case 'TransactWriteItemsCommand':
    case 'TransactGetItemsCommand': {
      // IAM checks each item's own action: Put → PutItem, Update → UpdateItem, Delete →
      // DeleteItem, ConditionCheck → ConditionCheckItem, Get → GetItem.
      const items = (input.TransactItems ?? []) as Record<string, { TableName?: string }>[];
      return items.flatMap((item) =>
        Object.entries(item).map(([kind, op]): [string, string] => [
          String(op.TableName),
          `dynamodb:${kind === 'ConditionCheck' ? 'ConditionCheckItem' : `${kind}Item`}`,
        ]),
      );
    }
    default:
      // Table management (the stage's own set-up runs outside any function) and anything else: not a data call.
      return [];
  }
}

/** Physical table name → table id, for a stage's tables (`<prefix>-<id>`). */
function tableIdOf(physical: string): string | undefined {
  return tableDefs.find((t) => physical === t.id || physical.endsWith(`-${t.id}`))?.id;
}

/** The refusal AWS would give, as the SDK would throw it. */
export function accessDenied(def: FunctionDef, action: string, table: string): Error {
  return Object.assign(
    new Error(
      `local stage: ${def.id} is not granted ${action} on ${table} (declare it in shared/routes.ts, needs.tables); on AWS this call is an AccessDeniedException`,
    ),
    { name: 'AccessDeniedException', $fault: 'client' },
  );
}

/** The check the stage registers on every DynamoDB client its handlers make. */
export function checkAgainstRoutes(command: string, input: Record<string, unknown>): void {
  const def = running.getStore();
  if (!def) return; // the stage's own calls, tests' set-up
  for (const [physical, action] of actionsOf(command, input)) {
    const id = tableIdOf(physical);
    if (action === 'dynamodb:Query' && typeof input.IndexName === 'string') {
      // Granted on `<table>/index/<name>` alone (shared/routes.ts needs.indexQueries), never by the table's grant.
      const index = input.IndexName;
      if (!def.needs.indexQueries?.some(([t, i]) => t.id === id && i.name === index))
        throw accessDenied(def, action, `${id ?? physical}/index/${index}`);
      continue;
    }
    const access = def.needs.tables.find(([t]) => t.id === id)?.[1];
    const granted =
      access === undefined
        ? false
        : access === 'readWrite'
          ? true
          : access === 'read'
            ? !/(Put|Update|Delete|BatchWrite|ConditionCheck)/.test(action)
            : access.includes(action as never);
    if (!granted) throw accessDenied(def, action, id ?? physical);
  }
}

/** Each function's @connections methods, worked out once: the check runs before every post of a fan-out. */
const declaredMethods = new WeakMap<FunctionDef, readonly ConnectionMethod[]>();
function methodsOf(def: FunctionDef): readonly ConnectionMethod[] {
  let methods = declaredMethods.get(def);
  if (!methods) declaredMethods.set(def, (methods = connectionMethods(def.id, def.needs)));
  return methods;
}

/**
 * The check the stage registers on the @connections adapters: AWS answers a method the function's
 * role does not allow on `<stage>/<METHOD>/@connections/*` with 403 ForbiddenException.
 */
export function checkConnectionAgainstRoutes(method: ConnectionMethod, connectionId: string): void {
  const def = running.getStore();
  if (!def) return;
  if (methodsOf(def).includes(method)) return;
  throw Object.assign(
    new Error(
      `local stage: ${def.id} is not granted execute-api:ManageConnections ${method} on @connections/${connectionId} (declare it in shared/routes.ts, needs.manageConnections); on AWS this call is a ForbiddenException`,
    ),
    { name: 'ForbiddenException', $fault: 'client', $metadata: { httpStatusCode: 403 } },
  );
}

checkDynamoCalls(checkAgainstRoutes);
checkConnectionCalls(checkConnectionAgainstRoutes);
