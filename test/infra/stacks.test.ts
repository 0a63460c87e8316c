// CDK assertion tests: the synthesized templates wire every route, key and permission the way shared/ says.
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLivecast } from '../../infra/livecast-app';
import { documentedTable, leastPrivilegeTable } from '../../scripts/least-privilege';
import {
  API_ORIGIN_ID,
  API_PATHS,
  PAGE_REWRITE,
  PAGE_REWRITE_BODY,
  pagesCsp,
  type WebStack,
} from '../../infra/web-stack';
import { buildWeb } from '../../web/build';
import type { StatefulStack } from '../../infra/stateful-stack';
import { httpRouteKey, type StatelessStack } from '../../infra/stateless-stack';
import { HTTP_ROUTE_THROTTLES, WS_ROUTE_THROTTLES } from '../../infra/throttles';
import { loadConfig } from '../../shared/config';
import { ENV } from '../../shared/config';
import {
  deliveryWake,
  deliveryWatchdog,
  connectionMethods,
  deliveryWorker,
  failureQueues,
  httpRoutes,
  repostTally,
  scheduled,
  spikeSweep,
  streamTriggers,
  viewerStats,
  wsAuthorizer,
  wsRoutes,
  type FunctionDef,
  type StreamTriggerDef,
  HANDSHAKE_MAX_MS,
} from '../../shared/routes';
import {
  EVENTS_BY_CREATED,
  budgetTable,
  changesTable,
  connectionsTable,
  deliveryTable,
  entriesTable,
  eventsTable,
  limitsTable,
  repostCountsTable,
  repostsTable,
  tables,
  type KeyDef,
  type TableDef,
} from '../../shared/tables';

// CloudFormation JSON is untyped by nature; these aliases keep the `any` in one place.
type Json = any;
type Resources = Record<string, Json>;
interface Statement {
  readonly actions: readonly string[];
  readonly resources: readonly Json[];
}

const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const allDefs: readonly FunctionDef[] = [
  wsAuthorizer,
  ...wsRoutes,
  ...httpRoutes,
  deliveryWorker,
  ...streamTriggers,
  ...scheduled,
];

let data: StatefulStack;
let api: StatelessStack;
let dataT: Template;
let apiT: Template;
let web: WebStack;
let webT: Template;
let outputsByStack: Record<string, Record<string, Json>>;

beforeAll(() => {
  // One synthesis shared by every test below.
  const webDir = join(mkdtempSync(join(tmpdir(), 'livecast-synth-')), 'web');
  buildWeb(webDir);
  // Bundling skipped: the templates are what these tests read, and esbuild for every function took
  // 86 s of a clean run (over 120 s on a busy machine). test/infra/bundles.test.ts builds every
  // function with the same settings in one esbuild call.
  // The prod stage: what these tests describe is what production runs (dev differs only in what
  // test/infra/environments.test.ts checks: removal policies and protections).
  ({ data, api, web } = buildLivecast(
    new App({
      context: { 'aws:cdk:bundling-stacks': [], stage: 'prod', embedAncestors: "'self' https://portal.example.org" },
    }),
    { webDir },
  ));
  dataT = Template.fromStack(data);
  apiT = Template.fromStack(api);
  webT = Template.fromStack(web);
  outputsByStack = {};
  // The web stack reads the API stack's outputs, the API stack the data stack's (Fn::GetStackOutput).
  for (const stack of [data, api]) outputsByStack[stack.stackName] = Template.fromStack(stack).toJSON().Outputs ?? {};
}, 120_000);

function logicalId(stack: Stack, construct: IConstruct): string {
  const child = construct.node.defaultChild;
  if (!child) throw new Error(`${construct.node.path} has no default child`);
  return stack.getLogicalId(child as Parameters<Stack['getLogicalId']>[0]);
}

function fnId(def: FunctionDef): string {
  const fn = api.functions[def.id];
  if (!fn) throw new Error(`no function for ${def.id}`);
  return logicalId(api, fn);
}

function tableId(def: TableDef): string {
  return logicalId(data, data.tables[def.id as keyof typeof data.tables]);
}

/** Replaces cross-stack reads with the data (or API) stack's output they read, so references compare as plain GetAtt/Ref. */
function resolveImports(value: Json): Json {
  if (Array.isArray(value)) return value.map(resolveImports);
  if (value && typeof value === 'object') {
    const read = value['Fn::GetStackOutput'];
    if (read) {
      const output = outputsByStack[read.StackName]?.[read.OutputName];
      if (!output) throw new Error(`${read.StackName} has no output ${read.OutputName}`);
      return output.Value;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveImports(v)]));
  }
  return value;
}

function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type);
}

function fnResource(def: FunctionDef): Json {
  const resource = resourcesOf(apiT, 'AWS::Lambda::Function')[fnId(def)];
  if (!resource) throw new Error(`no AWS::Lambda::Function for ${def.id}`);
  return resource;
}

function envOf(def: FunctionDef): Record<string, Json> {
  return fnResource(def).Properties.Environment?.Variables ?? {};
}

/** Every statement of the policies attached to a function's role. */
function statementsOf(def: FunctionDef): Statement[] {
  const roleRef = fnResource(def).Properties.Role['Fn::GetAtt'][0] as string;
  const out: Statement[] = [];
  for (const policy of Object.values(resourcesOf(apiT, 'AWS::IAM::Policy'))) {
    const attached = (policy.Properties.Roles as Json[]).some((r) => r.Ref === roleRef);
    if (!attached) continue;
    for (const s of policy.Properties.PolicyDocument.Statement as Json[]) {
      if (s.Effect !== 'Allow') continue;
      out.push({
        actions: [s.Action].flat(),
        resources: [s.Resource].flat().map(resolveImports),
      });
    }
  }
  return out;
}

/**
 * A CloudFormation string (Fn::Join of literals, Refs and GetAtts) as one string with `${Ref}` and
 * `${Id.Attr}` placeholders, e.g. `arn:${AWS::Partition}:execute-api:…`.
 */
function render(value: Json): string {
  if (typeof value === 'string') return value;
  if (value?.['Fn::Join']) {
    const [separator, parts] = value['Fn::Join'] as [string, Json[]];
    return parts.map(render).join(separator);
  }
  if (typeof value?.Ref === 'string') return `\${${value.Ref}}`;
  if (Array.isArray(value?.['Fn::GetAtt'])) return `\${${(value['Fn::GetAtt'] as string[]).join('.')}}`;
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

interface DynamoGrants {
  /** Per table (logical id in the data stack): the actions allowed on its ARN. */
  tables: Map<string, Set<string>>;
  /** Per index (`<table logical id>/<index name>`): the actions allowed on it (`<arn>/index/<name>`; `*` for every index). */
  indexes: Map<string, Set<string>>;
  /** Per table: the actions allowed on its stream. */
  streams: Map<string, Set<string>>;
  /** Actions allowed on `*`. */
  anywhere: Set<string>;
  /** Anything else (a statement this file does not know how to read): should stay empty. */
  other: string[];
}

/** Every DynamoDB action a function's role allows, sorted by what it is allowed on. */
function dynamoGrantsOf(def: FunctionDef): DynamoGrants {
  const grants: DynamoGrants = {
    tables: new Map(),
    indexes: new Map(),
    streams: new Map(),
    anywhere: new Set(),
    other: [],
  };
  const add = (map: Map<string, Set<string>>, id: string, action: string) =>
    map.set(id, (map.get(id) ?? new Set()).add(action));
  const tableIds = new Set(tables.map(tableId));
  for (const s of statementsOf(def)) {
    for (const action of s.actions.filter((a) => a.startsWith('dynamodb:'))) {
      for (const resource of s.resources) {
        const [id, attr] = (resource?.['Fn::GetAtt'] ?? []) as [string?, string?];
        const indexMatch =
          typeof resource === 'string' || resource?.['Fn::GetAtt']
            ? undefined
            : /^\$\{(\w+)\.Arn\}\/index\/([\w*]+)$/.exec(render(resource));
        const index = indexMatch?.[1];
        if (resource === '*') grants.anywhere.add(action);
        else if (id && tableIds.has(id) && attr === 'Arn') add(grants.tables, id, action);
        else if (id && tableIds.has(id) && attr === 'StreamArn') add(grants.streams, id, action);
        else if (index && tableIds.has(index)) add(grants.indexes, `${index}/${indexMatch?.[2]}`, action);
        else grants.other.push(`${action} on ${JSON.stringify(resource)}`);
      }
    }
  }
  return grants;
}

/** The exact actions a function declares for a table; the old 'read'/'readWrite' forms are not exact. */
function declaredActions(def: FunctionDef, table: TableDef): string[] {
  const access = def.needs.tables.find(([t]) => t.id === table.id)?.[1];
  if (access === undefined) return [];
  if (typeof access === 'string')
    throw new Error(`${def.id} declares '${access}' on ${table.id}: list its exact actions (shared/routes.ts \`may\`)`);
  return [...new Set(access)].sort();
}

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const touches = (s: Statement, id: string) => s.resources.some((r) => JSON.stringify(r) === JSON.stringify(arnOf(id)));

function tableActions(def: FunctionDef, table: TableDef): Set<string> {
  const id = tableId(table);
  return new Set(
    statementsOf(def)
      .filter((s) => touches(s, id))
      .flatMap((s) => s.actions),
  );
}

/** The function a route's integration invokes. */
function integratedFunction(route: Json): string {
  const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref as string;
  const integration = resourcesOf(apiT, 'AWS::ApiGatewayV2::Integration')[integrationId];
  const uri = JSON.stringify(integration.Properties.IntegrationUri);
  const fns = Object.keys(resourcesOf(apiT, 'AWS::Lambda::Function')).filter((id) => uri.includes(`"${id}"`));
  expect(fns).toHaveLength(1);
  return fns[0] as string;
}

function routesOf(apiLogicalId: string): Map<string, [string, Json]> {
  const routes = new Map<string, [string, Json]>();
  for (const [id, r] of Object.entries(resourcesOf(apiT, 'AWS::ApiGatewayV2::Route'))) {
    if (r.Properties.ApiId.Ref === apiLogicalId) routes.set(r.Properties.RouteKey, [id, r]);
  }
  return routes;
}

const wsRoutesSynth = () => routesOf(logicalId(api, api.webSocketApi));
const httpRoutesSynth = () => routesOf(logicalId(api, api.httpApi));

describe('WebSocket API', () => {
  it('selects routes by the action field of the message body', () => {
    apiT.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('has exactly the routes of shared/routes.ts, each integrated with its own function', () => {
    const routes = wsRoutesSynth();
    expect([...routes.keys()].sort()).toEqual(wsRoutes.map((r) => r.routeKey).sort());
    for (const def of wsRoutes) {
      const [, route] = routes.get(def.routeKey)!;
      expect(integratedFunction(route), def.routeKey).toBe(fnId(def));
    }
  });

  it('guards $connect with a REQUEST authorizer on the eventId query parameter, and nothing else', () => {
    const routes = wsRoutesSynth();
    const [, connect] = routes.get('$connect')!;
    expect(connect.Properties.AuthorizationType).toBe('CUSTOM');
    const authorizer = resourcesOf(apiT, 'AWS::ApiGatewayV2::Authorizer')[connect.Properties.AuthorizerId.Ref];
    expect(authorizer.Properties.AuthorizerType).toBe('REQUEST');
    expect(authorizer.Properties.IdentitySource).toEqual(['route.request.querystring.eventId']);
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(`"${fnId(wsAuthorizer)}"`);
    for (const [key, [, route]] of routes) {
      if (key !== '$connect') expect(route.Properties.AuthorizationType, key).toBe('NONE');
    }
  });

  it('returns the handler body as a route response exactly where the route table asks for it', () => {
    const routes = wsRoutesSynth();
    const keyById = new Map([...routes].map(([key, [id]]) => [id, key]));
    const responded = Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::RouteResponse')).map((rr) =>
      keyById.get(rr.Properties.RouteId.Ref),
    );
    expect(responded.sort()).toEqual(
      wsRoutes
        .filter((r) => r.returnResponse)
        .map((r) => r.routeKey)
        .sort(),
    );
    for (const def of wsRoutes.filter((r) => r.returnResponse)) {
      expect(routes.get(def.routeKey)![1].Properties.RouteResponseSelectionExpression).toBe('$default');
    }
  });

  it('deploys a throttled, auto-deployed stage', () => {
    apiT.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: logicalId(api, api.webSocketApi) },
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
    });
  });
});

describe('HTTP API', () => {
  it('has exactly the routes of shared/routes.ts, each on its own function with payload v2', () => {
    const routes = httpRoutesSynth();
    expect([...routes.keys()].sort()).toEqual(httpRoutes.map((r) => r.routeKey).sort());
    for (const def of httpRoutes) {
      const [, route] = routes.get(def.routeKey)!;
      expect(integratedFunction(route), def.routeKey).toBe(fnId(def));
    }
    for (const integration of Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::Integration'))) {
      if (integration.Properties.ApiId.Ref === logicalId(api, api.httpApi)) {
        expect(integration.Properties.PayloadFormatVersion).toBe('2.0');
      }
    }
  });

  it('lets any origin GET and POST with the authorization and content-type headers', () => {
    const [httpApi] = Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::Api')).filter(
      (a) => a.Properties.ProtocolType === 'HTTP',
    );
    const cors = httpApi.Properties.CorsConfiguration;
    expect(cors.AllowOrigins).toEqual(['*']);
    expect(cors.AllowMethods).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(cors.AllowHeaders.map((h: string) => h.toLowerCase())).toEqual(
      expect.arrayContaining(['authorization', 'content-type']),
    );
  });

  it('serves the routes from a throttled $default stage', () => {
    apiT.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: logicalId(api, api.httpApi) },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 25, ThrottlingBurstLimit: 50 },
    });
  });

  it('rejects route keys it cannot express', () => {
    expect(httpRouteKey('GET /events/{eventId}').key).toBe('GET /events/{eventId}');
    expect(httpRouteKey('$default').key).toBe('$default');
    expect(() => httpRouteKey('FETCH /events')).toThrow(/bad HTTP route key/);
    expect(() => httpRouteKey('/events')).toThrow(/bad HTTP route key/);
  });
});

describe('tables', () => {
  const toAttr = (k: KeyDef) => ({ AttributeName: k.name, AttributeType: k.type });

  it.each(tables.map((t) => [t.id, t] as const))('%s has the keys of shared/tables.ts', (_id, def: TableDef) => {
    const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(def)];
    const keys = [{ AttributeName: def.partitionKey.name, KeyType: 'HASH' }];
    if (def.sortKey) keys.push({ AttributeName: def.sortKey.name, KeyType: 'RANGE' });
    expect(table.Properties.KeySchema).toEqual(keys);
    const indexKeys = (def.indexes ?? []).flatMap((i) => [i.partitionKey, ...(i.sortKey ? [i.sortKey] : [])]);
    expect(table.Properties.AttributeDefinitions).toEqual(
      [def.partitionKey, ...(def.sortKey ? [def.sortKey] : []), ...indexKeys].map(toAttr),
    );
    expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    expect((table.Properties.GlobalSecondaryIndexes ?? []).map((i: { IndexName: string }) => i.IndexName)).toEqual(
      (def.indexes ?? []).map((i) => i.name),
    );
  });

  it('lists events from one index partition that holds only keys and the title, so no publish writes to it', () => {
    const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(eventsTable)];
    expect(table.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: EVENTS_BY_CREATED.name,
        KeySchema: [
          { AttributeName: 'listed', KeyType: 'HASH' },
          { AttributeName: 'createdAt', KeyType: 'RANGE' },
        ],
        // lastSeq and lastChange (written by every publish) must never be projected: see shared/tables.ts.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['title'] },
      },
    ]);
    // Only GET /events queries it, and only it (by name, not index/*); nobody else is granted any index.
    const lister = httpRoutes.find((r) => r.routeKey === 'GET /events')!;
    expect([...dynamoGrantsOf(lister).indexes].map(([k, a]) => [k, [...a]])).toEqual([
      [`${tableId(eventsTable)}/${EVENTS_BY_CREATED.name}`, ['dynamodb:Query']],
    ]);
    expect([...tableActions(lister, eventsTable)]).toEqual(['dynamodb:BatchGetItem']);
    for (const def of allDefs) if (def !== lister) expect([...dynamoGrantsOf(def).indexes.keys()], def.id).toEqual([]);
  });

  it('keeps durable tables (retained, point-in-time recovery) and lets connections go', () => {
    expect(tables.filter((t) => t.durable).map((t) => t.id)).toEqual(expect.arrayContaining(['Events', 'Entries']));
    for (const def of tables) {
      const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(def)];
      if (def.durable) {
        expect(table.DeletionPolicy, def.id).toBe('Retain');
        expect(table.UpdateReplacePolicy, def.id).toBe('Retain');
        expect(table.Properties.PointInTimeRecoverySpecification, def.id).toEqual({ PointInTimeRecoveryEnabled: true });
      } else {
        expect(table.DeletionPolicy, def.id).toBe('Delete');
      }
    }
  });

  it('carries the account’s budget ledger: a disposable table the delivery workers alone register in, read and leave', () => {
    const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(budgetTable)];
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.DeletionPolicy).toBe('Delete');
    expect([...tableActions(deliveryWorker, budgetTable)].sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
    ]);
    expect(envOf(deliveryWorker)[budgetTable.envVar]).toBeDefined();
    for (const def of allDefs) if (def !== deliveryWorker) expect(tableActions(def, budgetTable).size, def.id).toBe(0);
  });

  it('expires connection rows by TTL', () => {
    const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(connectionsTable)];
    expect(table.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: connectionsTable.timeToLiveAttribute,
      Enabled: true,
    });
  });
});

describe('admin key', () => {
  it('is generated by Secrets Manager: long, no punctuation', () => {
    const [secret] = Object.values(resourcesOf(dataT, 'AWS::SecretsManager::Secret'));
    const gen = secret.Properties.GenerateSecretString;
    expect(gen.ExcludePunctuation).toBe(true);
    expect(gen.PasswordLength).toBeGreaterThanOrEqual(32);
    expect(secret.Properties.SecretString).toBeUndefined();
  });

  it('is readable by the organiser’s routes (create and list events, rotate a token, revisions, redact) and by no other', () => {
    const key = JSON.stringify({ Ref: logicalId(data, data.adminKey) });
    const readers = allDefs.filter((def) =>
      statementsOf(def).some(
        (s) =>
          s.actions.includes('secretsmanager:GetSecretValue') && s.resources.some((r) => JSON.stringify(r) === key),
      ),
    );
    const organiser = [
      'POST /events',
      'GET /events',
      'POST /events/{eventId}/operator-token',
      'GET /events/{eventId}/revisions',
      'POST /events/{eventId}/entries/{seq}/redact',
    ];
    expect(readers.map((d) => d.id).sort()).toEqual(
      organiser.map((k) => httpRoutes.find((r) => r.routeKey === k)!.id).sort(),
    );
  });

  it('reaches functions as an ARN, never as a value', () => {
    const secretRef = { Ref: logicalId(data, data.adminKey) };
    const creator = httpRoutes.find((r) => r.routeKey === 'POST /events')!;
    expect(resolveImports(envOf(creator)[ENV.adminKeySecretArn])).toEqual(secretRef);
    for (const def of allDefs) {
      const env = envOf(def);
      expect(env[ENV.adminKey], def.id).toBeUndefined();
      const text = JSON.stringify(resolveImports(env));
      expect(text, def.id).not.toMatch(/resolve:secretsmanager|SecretString/);
      if (!def.needs.adminKey) expect(text, def.id).not.toContain(JSON.stringify(secretRef));
    }
  });
});

describe('functions', () => {
  it('are one per route plus the authorizer, the delivery worker and the stream triggers, all Node 24 on arm64', () => {
    const fns = Object.values(resourcesOf(apiT, 'AWS::Lambda::Function'));
    expect(fns).toHaveLength(allDefs.length);
    for (const fn of fns) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      const shaped = scheduled.find((def) => fn === fnResource(def));
      expect(fn.Properties.MemorySize).toBe(shaped?.memoryMB ?? 512);
      const worker = fn === fnResource(deliveryWorker);
      expect(fn.Properties.Timeout).toBe(
        worker ? 900 : (shaped?.timeoutSeconds ?? Math.min(fn.Properties.Timeout, 29)),
      );
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  it("bound the handshake: the authorizer and $connect time out within HANDSHAKE_MAX_MS, the delivery worker's connect grace", () => {
    const connect = wsRoutes.find((r) => r.routeKey === '$connect')!;
    const timeouts = [fnResource(wsAuthorizer), fnResource(connect)].map((fn) => fn.Properties.Timeout as number);
    expect(timeouts[0]! + timeouts[1]!).toBeLessThanOrEqual(HANDSHAKE_MAX_MS / 1_000);
  });

  it('log to their own log group with a retention', () => {
    const groups = resourcesOf(apiT, 'AWS::Logs::LogGroup');
    for (const def of allDefs) {
      const group = groups[fnResource(def).Properties.LoggingConfig.LogGroup.Ref];
      expect(group?.Properties.RetentionInDays, def.id).toBe(30);
    }
    apiT.resourceCountIs('Custom::LogRetention', 0);
  });

  it('learn every table name from the env vars shared/tables.ts names', () => {
    for (const def of allDefs) {
      const env = resolveImports(envOf(def));
      for (const table of tables) expect(env[table.envVar], `${def.id} ${table.id}`).toEqual({ Ref: tableId(table) });
    }
  });

  it('that manage connections get the stage callback URL; the others do not', () => {
    const apiRef = { Ref: logicalId(api, api.webSocketApi) };
    for (const def of allDefs) {
      const endpoint = envOf(def)[ENV.connectionsEndpoint];
      if (connectionMethods(def.id, def.needs).length === 0) {
        expect(endpoint, def.id).toBeUndefined();
        continue;
      }
      const parts = endpoint['Fn::Join'][1] as Json[];
      expect(parts[0]).toBe('https://');
      expect(parts).toContainEqual(apiRef);
      expect(parts.at(-1)).toBe('/live');
    }
  });
});

describe('permissions', () => {
  it('are declared as exact DynamoDB actions by every function, not as read/readWrite', () => {
    const coarse = allDefs.flatMap((def) =>
      def.needs.tables
        .filter(([, access]) => typeof access === 'string')
        .map(([t, access]) => `${def.id} ${t.id} ${String(access)}`),
    );
    expect(coarse).toEqual([]);
  });

  it.each(allDefs.map((d) => [d.id, d] as const))(
    'give %s on each table exactly the DynamoDB actions it declares',
    (_id, def) => {
      const grants = dynamoGrantsOf(def);
      for (const table of tables) {
        expect([...(grants.tables.get(tableId(table)) ?? [])].sort(), table.id).toEqual(declaredActions(def, table));
      }
      // Each index it declares, by name (never `index/*`), Query alone; no grant on an index it does not declare.
      const declared = (def.needs.indexQueries ?? []).map(([t, i]) => [`${tableId(t)}/${i.name}`, ['dynamodb:Query']]);
      expect([...grants.indexes].map(([k, actions]) => [k, [...actions].sort()])).toEqual(declared);
      expect(grants.other).toEqual([]);
    },
  );

  it('let no function Scan, and none write in bulk', () => {
    // A Scan reads a whole table; nothing on a request path or in a trigger needs one (dynamo-paging: only benchmarks and tools scan).
    const scanners = allDefs.filter((def) =>
      [...dynamoGrantsOf(def).tables.values()].some((actions) => actions.has('dynamodb:Scan')),
    );
    expect(scanners.map((d) => d.id)).toEqual([]);
    const bulk = allDefs.filter((def) =>
      [...dynamoGrantsOf(def).tables.values()].some((actions) => actions.has('dynamodb:BatchWriteItem')),
    );
    expect(bulk.map((d) => d.id)).toEqual([]);
  });

  it("let the stream triggers read their own table's stream and no other, and nothing else touch a stream", () => {
    for (const def of allDefs) {
      const grants = dynamoGrantsOf(def);
      const trigger = (streamTriggers as readonly FunctionDef[]).includes(def) ? (def as StreamTriggerDef) : undefined;
      const expected = trigger
        ? [
            [
              tableId(trigger.stream.table),
              ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
            ],
          ]
        : [];
      expect(
        [...grants.streams].map(([id, actions]) => [id, [...actions].sort()]),
        def.id,
      ).toEqual(expected);
      // ListStreams has no resource-level permissions: the event source mapping needs it on '*'.
      expect([...grants.anywhere], def.id).toEqual(trigger ? ['dynamodb:ListStreams'] : []);
    }
  });

  it.each(allDefs.map((d) => [d.id, d] as const))(
    'let %s call @connections with exactly the methods it declares, on the live stage only',
    (_id, def) => {
      const manage = statementsOf(def).filter((s) => s.actions.includes('execute-api:ManageConnections'));
      for (const s of manage) expect(s.actions).toEqual(['execute-api:ManageConnections']);
      const wsApi = logicalId(api, api.webSocketApi);
      const expected = connectionMethods(def.id, def.needs).map(
        (method) =>
          `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${${wsApi}}/live/${method}/@connections/*`,
      );
      expect(manage.flatMap((s) => s.resources.map(render)).sort()).toEqual(expected.sort());
    },
  );

  it("let only sync and the delivery worker post to connections; the reporter's writes ack as route responses", () => {
    const posting = allDefs.filter((def) => connectionMethods(def.id, def.needs).includes('POST')).map((d) => d.id);
    expect(posting.sort()).toEqual([wsRoutes.find((r) => r.routeKey === 'sync')!.id, deliveryWorker.id].sort());
  });

  it('let only the WebSocket message routes close a connection (a flood past its allowance), and none read one', () => {
    const closing = allDefs.filter((def) => connectionMethods(def.id, def.needs).includes('DELETE')).map((d) => d.id);
    expect(closing.sort()).toEqual(
      wsRoutes
        .filter((r) => r.routeKey !== '$connect' && r.routeKey !== '$disconnect')
        .map((r) => r.id)
        .sort(),
    );
    expect(allDefs.filter((def) => connectionMethods(def.id, def.needs).includes('GET'))).toEqual([]);
  });

  it('are listed in docs/architecture.md as shared/routes.ts declares them', () => {
    // After a change to a route's needs: `npx tsx scripts/least-privilege.ts --write`.
    expect(documentedTable()).toBe(leastPrivilegeTable(allDefs));
  });

  it('refuse @connections declarations that grant nothing or name no real method', () => {
    expect(connectionMethods('Fn', { tables: [], manageConnections: true })).toEqual(['POST']);
    expect(connectionMethods('Fn', { tables: [], manageConnections: ['DELETE', 'POST', 'POST'] })).toEqual([
      'DELETE',
      'POST',
    ]);
    expect(connectionMethods('Fn', { tables: [] })).toEqual([]);
    expect(() => connectionMethods('Fn', { tables: [], manageConnections: [] })).toThrow(
      /Fn: manageConnections lists no methods/,
    );
    expect(() => connectionMethods('Fn', { tables: [], manageConnections: ['PUT' as 'POST'] })).toThrow(/names 'PUT'/);
  });

  it('leave the authorizer read-only: no writes, no connection management, no secret but the viewer id key', () => {
    const statements = statementsOf(wsAuthorizer);
    expect(statements.length).toBeGreaterThan(0);
    const actions = statements.flatMap((s) => s.actions);
    for (const action of [...WRITE_ACTIONS, 'execute-api:ManageConnections']) {
      expect(actions).not.toContain(action);
    }
    const viewerKey = JSON.stringify({ Ref: logicalId(data, data.viewerSecret) });
    const secretReads = statements.filter((s) => s.actions.includes('secretsmanager:GetSecretValue'));
    expect(secretReads.flatMap((s) => s.resources.map((r) => JSON.stringify(r)))).toEqual([viewerKey]);
  });

  it('are granted, never written with wildcard resources for data', () => {
    for (const def of allDefs) {
      for (const s of statementsOf(def)) {
        // ListStreams has no resource-level permissions; the event source mapping needs it on '*'.
        if (s.actions.some((a) => a.startsWith('dynamodb:') && a !== 'dynamodb:ListStreams')) {
          expect(s.resources, def.id).not.toContain('*');
        }
      }
    }
  });
});

describe('delivery', () => {
  it('wakes up from the Changes stream, in batches, retrying and bisecting failed ones', () => {
    const stream = dataT.toJSON().Resources[tableId(changesTable)].Properties.StreamSpecification;
    expect(stream).toEqual({ StreamViewType: 'NEW_IMAGE' });
    const mappings = Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(3);
    const mapping = mappings.find((m) =>
      JSON.stringify(m.Properties.FunctionName).includes(fnId(deliveryWake)),
    )!.Properties;
    expect(mapping.FunctionName).toEqual({ Ref: fnId(deliveryWake) });
    expect(JSON.stringify(resolveImports(mapping.EventSourceArn))).toContain(tableId(changesTable));
    expect(mapping).toMatchObject({
      BatchSize: 100,
      StartingPosition: 'LATEST',
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
    });
  });

  it('lets the wake-up trigger start workers by name, and a worker start its successor', () => {
    const invoke = statementsOf(deliveryWake).filter((s) => s.actions.includes('lambda:InvokeFunction'));
    expect(JSON.stringify(invoke.map((s) => s.resources))).toContain(fnId(deliveryWorker));
    expect(envOf(deliveryWake)[ENV.workerFunction]).toEqual({ Ref: fnId(deliveryWorker) });
    const self = Object.values(resourcesOf(apiT, 'AWS::Lambda::Permission')).filter((p) =>
      JSON.stringify(p.Properties.FunctionName).includes(fnId(deliveryWorker)),
    );
    expect(self).toHaveLength(1);
    expect(JSON.stringify(self[0]!.Properties.Principal)).toContain(
      fnResource(deliveryWorker).Properties.Role['Fn::GetAtt'][0],
    );
  });

  it('gives only the reporter routes, delivery and $connect/$disconnect access to what they write', () => {
    expect(tableActions(deliveryWorker, changesTable).has('dynamodb:PutItem')).toBe(false);
    expect(tableActions(deliveryWorker, connectionsTable).has('dynamodb:DeleteItem')).toBe(true);
  });
});

describe('reposts', () => {
  it('routes repost to its function, which reads entries and writes only the Reposts table (and its allowance counters)', () => {
    const route = Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::Route')).find(
      (r) => r.Properties.RouteKey === 'repost',
    );
    expect(route).toBeDefined();
    const repost = wsRoutes.find((r) => r.routeKey === 'repost')!;
    expect(tableActions(repost, repostsTable).has('dynamodb:PutItem')).toBe(true);
    expect(tableActions(repost, limitsTable).has('dynamodb:UpdateItem')).toBe(true);
    expect(tableActions(repost, entriesTable).has('dynamodb:PutItem')).toBe(false);
    expect(tableActions(repost, repostCountsTable).size).toBe(0);
  });

  it('tallies from the Reposts stream in big batches, retrying and bisecting failed ones', () => {
    expect(dataT.toJSON().Resources[tableId(repostsTable)].Properties.StreamSpecification).toEqual({
      StreamViewType: 'NEW_IMAGE',
    });
    const mapping = Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping')).find((m) =>
      JSON.stringify(m.Properties.FunctionName).includes(fnId(repostTally)),
    )!.Properties;
    expect(JSON.stringify(resolveImports(mapping.EventSourceArn))).toContain(tableId(repostsTable));
    expect(mapping).toMatchObject({
      BatchSize: 1000,
      StartingPosition: 'LATEST',
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
    });
    expect(tableActions(repostTally, repostCountsTable).has('dynamodb:UpdateItem')).toBe(true);
    // Stats and spike frames: the event's counter and a line in the change log, in one transaction.
    expect(tableActions(repostTally, eventsTable).has('dynamodb:UpdateItem')).toBe(true);
    expect(tableActions(repostTally, changesTable).has('dynamodb:PutItem')).toBe(true);
    // The stream is read through the event source mapping, the table itself never written.
    expect(tableActions(repostTally, repostsTable).has('dynamodb:PutItem')).toBe(false);
  });

  it('counts viewers from the Connections stream (new and old images: the role in the row), never on the event item', () => {
    // NEW_AND_OLD_IMAGES: an INSERT's role is in its new image, a REMOVE's (TTL's too) in its old one.
    expect(dataT.toJSON().Resources[tableId(connectionsTable)].Properties.StreamSpecification).toEqual({
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    const mapping = Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping')).find((m) =>
      JSON.stringify(m.Properties.FunctionName).includes(fnId(viewerStats)),
    )!.Properties;
    expect(JSON.stringify(resolveImports(mapping.EventSourceArn))).toContain(tableId(connectionsTable));
    expect(tableActions(viewerStats, changesTable).has('dynamodb:PutItem')).toBe(true);
    expect(tableActions(viewerStats, connectionsTable).size).toBe(0);
    // The counters: a conditional UpdateItem per connection partition, a Query to sum them.
    expect([...tableActions(viewerStats, repostCountsTable)].sort()).toEqual(['dynamodb:Query', 'dynamodb:UpdateItem']);
    // Connects and disconnects write only their row: the event item, which every publish writes, is
    // read by $connect (does the event exist?) and written by neither.
    const connect = wsRoutes.find((r) => r.routeKey === '$connect')!;
    const disconnect = wsRoutes.find((r) => r.routeKey === '$disconnect')!;
    expect([...tableActions(connect, eventsTable)]).toEqual(['dynamodb:GetItem']);
    expect(tableActions(disconnect, eventsTable).size).toBe(0);
    // GET /events/{eventId} reads the count from the counters.
    const getEvent = httpRoutes.find((r) => r.routeKey === 'GET /events/{eventId}')!;
    expect([...tableActions(getEvent, repostCountsTable)]).toEqual(['dynamodb:Query']);
  });

  it('serves GET /events/{eventId}/reposts', () => {
    const route = Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::Route')).find(
      (r) => r.Properties.RouteKey === 'GET /events/{eventId}/reposts',
    );
    expect(route).toBeDefined();
  });

  it('lets GET /events/{eventId}/reposts read and never write', () => {
    const reads = httpRoutes.find((r) => r.routeKey === 'GET /events/{eventId}/reposts')!;
    const writes = statementsOf(reads)
      .flatMap((s) => s.actions)
      .filter((a) => WRITE_ACTIONS.includes(a) || a === 'dynamodb:TransactWriteItems');
    expect(writes).toEqual([]);
    expect(tableActions(reads, repostCountsTable).has('dynamodb:Query')).toBe(true);
  });

  it('expires repost rows by TTL (expiresAt), keeping the counts', () => {
    const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(repostsTable)];
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(
      resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(repostCountsTable)].Properties.TimeToLiveSpecification,
    ).toBeUndefined();
  });
});

describe('viewer id key', () => {
  const secretResource = () => resourcesOf(dataT, 'AWS::SecretsManager::Secret')[logicalId(data, data.viewerSecret)];
  const issuer = () => httpRoutes.find((r) => r.routeKey === 'POST /viewers')!;

  it('is a secret of its own in the data stack, generated long', () => {
    const gen = secretResource().Properties.GenerateSecretString;
    expect(gen.PasswordLength).toBeGreaterThanOrEqual(32);
    expect(secretResource().Properties.SecretString).toBeUndefined();
    expect(logicalId(data, data.viewerSecret)).not.toBe(logicalId(data, data.adminKey));
  });

  it('is read, as an ARN, by POST /viewers and the $connect authorizer and by no other', () => {
    const key = { Ref: logicalId(data, data.viewerSecret) };
    const readers = allDefs.filter((def) =>
      statementsOf(def).some(
        (s) =>
          s.actions.includes('secretsmanager:GetSecretValue') &&
          s.resources.some((r) => JSON.stringify(r) === JSON.stringify(key)),
      ),
    );
    expect(readers.map((d) => d.id).sort()).toEqual([issuer().id, wsAuthorizer.id].sort());
    for (const def of readers) expect(resolveImports(envOf(def)[ENV.viewerSecretArn]), def.id).toEqual(key);
    for (const def of allDefs) expect(envOf(def)[ENV.viewerSecret], def.id).toBeUndefined();
  });

  it('is issued by POST /viewers, which counts its allowance in the Limits table and touches nothing else', () => {
    expect(httpRoutesSynth().has('POST /viewers')).toBe(true);
    const touched = tables.filter((t) => tableActions(issuer(), t).size > 0).map((t) => t.id);
    expect(touched).toEqual(['Limits']);
  });
});

describe('outputs', () => {
  it('print the WebSocket, callback and HTTP URLs and where the admin key lives', () => {
    const apiOutputs = apiT.toJSON().Outputs as Record<string, Json>;
    expect(apiOutputs.WebSocketUrl.Value['Fn::Join'][1][0]).toBe('wss://');
    expect(apiOutputs.CallbackUrl.Value['Fn::Join'][1][0]).toBe('https://');
    expect(apiOutputs.HttpApiUrl.Value['Fn::Join'][1][0]).toBe('https://');
    const secretRef = { Ref: logicalId(data, data.adminKey) };
    expect(resolveImports(apiOutputs.AdminKeySecretArn.Value)).toEqual(secretRef);
    dataT.hasOutput('AdminKeySecretArn', { Value: secretRef });
    dataT.hasOutput('AdminKeySecretName', {});
    const all = JSON.stringify([apiOutputs, dataT.toJSON().Outputs]);
    expect(all).not.toMatch(/resolve:secretsmanager|SecretString/);
  });

  it('keep the data stack independent of the API stack', () => {
    expect(api.dependencies).toContain(data);
    expect(data.dependencies).not.toContain(api);
  });
});

describe('scheduled functions', () => {
  it('runs the spike sweep once a minute through an EventBridge rule', () => {
    const rules = Object.values(apiT.findResources('AWS::Events::Rule')) as Json[];
    expect(rules).toHaveLength(scheduled.length);
    const rule = rules.find((r) => JSON.stringify(r.Properties.Targets).includes(fnId(spikeSweep)))!;
    expect(rule.Properties.ScheduleExpression).toBe(`rate(${spikeSweep.everyMinutes} minute)`);
    expect(rule.Properties.State).toBe('ENABLED');
    const target = rule.Properties.Targets[0];
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [logicalId(api, api.functions[spikeSweep.id]!), 'Arn'] });
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 0 });
    apiT.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [logicalId(api, api.functions[spikeSweep.id]!), 'Arn'] },
    });
  });
});

describe('photos (issue 14)', () => {
  const imagesBucketId = () => logicalId(data, data.images);
  // The API stack names the bucket (infra/stages.ts imagesBucketName) rather than referencing it.
  const bucketArn = 'arn:${AWS::Partition}:s3:::livecast-prod-images-${AWS::AccountId}-${AWS::Region}';
  const objects = (prefix: string) => `${bucketArn}/${prefix}*`;
  /** A function's S3 and SSM grants, as `action on resource` lines. */
  const photoGrants = (def: FunctionDef) =>
    statementsOf(def)
      .flatMap((st) =>
        st.actions.filter((a) => /^(s3|ssm):/.test(a)).flatMap((a) => st.resources.map((r) => `${a} on ${render(r)}`)),
      )
      .sort();

  it('keeps them in a private, encrypted, TLS-only, unversioned bucket whose abandoned uploads expire after a day', () => {
    const bucket = dataT.toJSON().Resources[imagesBucketId()];
    const p = bucket.Properties;
    expect(render(p.BucketName)).toBe('livecast-prod-images-${AWS::AccountId}-${AWS::Region}');
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe(
      'AES256',
    );
    expect(p.VersioningConfiguration).toBeUndefined();
    expect(bucket.DeletionPolicy).toBe('Retain');
    const rules = p.LifecycleConfiguration.Rules as Json[];
    expect(rules).toContainEqual(
      expect.objectContaining({ Prefix: 'uploads/', ExpirationInDays: 1, Status: 'Enabled' }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
    );
    // Nothing ever expires published photos.
    expect(rules.filter((r) => r.ExpirationInDays !== undefined).map((r) => r.Prefix)).toEqual(['uploads/']);
    const policy = JSON.stringify(dataT.findResources('AWS::S3::BucketPolicy'));
    expect(policy).toContain('aws:SecureTransport');
  });

  it("lets the pages' browsers POST to it across origins (preflight: any header the form needs)", () => {
    const rules = dataT.toJSON().Resources[imagesBucketId()].Properties.CorsConfiguration.CorsRules as Json[];
    expect(rules).toEqual([
      expect.objectContaining({
        AllowedMethods: ['POST'],
        AllowedOrigins: ['https://*.cloudfront.net'],
        AllowedHeaders: ['*'],
      }),
    ]);
  });

  it('lets CloudFront read images/ and nothing else of the bucket', () => {
    const statements = Object.values(dataT.findResources('AWS::S3::BucketPolicy')).flatMap(
      (b) => (b as Json).Properties.PolicyDocument.Statement as Json[],
    );
    const cdn = statements.filter((st) => JSON.stringify(st.Principal ?? {}).includes('cloudfront.amazonaws.com'));
    expect(cdn).toHaveLength(1);
    expect(cdn[0].Action).toBe('s3:GetObject');
    expect(render(cdn[0].Resource)).toBe(`\${${imagesBucketId()}.Arn}/images/*`);
    expect(JSON.stringify(cdn[0].Condition)).toContain(':distribution/*');
  });

  it('serves images/* from the pages distribution, through origin access control, GET and HEAD only', () => {
    const config = (Object.values(webT.findResources('AWS::CloudFront::Distribution'))[0] as Json).Properties
      .DistributionConfig;
    const behavior = config.CacheBehaviors.find((b: Json) => b.PathPattern === '/images/*');
    expect(behavior).toBeDefined();
    expect(behavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(behavior.AllowedMethods).toEqual(['GET', 'HEAD']);
    const origin = (config.Origins as Json[]).find((o) => o.Id === behavior.TargetOriginId);
    expect(origin.OriginAccessControlId).toBeDefined();
    expect(JSON.stringify(origin.DomainName)).toContain(imagesBucketId());
    // Where the functions find the distribution: a parameter named from the stage alone.
    webT.hasResourceProperties('AWS::SSM::Parameter', { Name: '/livecast/prod/images-base-url' });
  });

  it('grants by prefix: presigning PutObject on uploads/ only; publish and edit read uploads/ and images/ and write images/ only', () => {
    const param = (def: FunctionDef) => photoGrants(def).filter((g) => g.startsWith('ssm:'));
    const s3 = (def: FunctionDef) => photoGrants(def).filter((g) => g.startsWith('s3:'));
    const presign = httpRoutes.find((r) => r.id === 'HttpImages')!;
    expect(s3(presign)).toEqual([`s3:PutObject on ${objects('uploads/')}`]);
    for (const id of ['WsPublish', 'WsEdit']) {
      const def = wsRoutes.find((r) => r.id === id)!;
      expect(s3(def), id).toEqual(
        [
          `s3:GetObject on ${objects('images/')}`,
          `s3:GetObject on ${objects('uploads/')}`,
          `s3:ListBucket on ${bucketArn}`,
          `s3:PutObject on ${objects('images/')}`,
        ].sort(),
      );
      expect(envOf(def)[ENV.imagesBaseUrlParameter], id).toBe('/livecast/prod/images-base-url');
      expect(param(def), id).toHaveLength(1);
    }
    expect(param(presign)).toHaveLength(1);
    // And no other function touches the bucket or the parameter.
    for (const def of allDefs.filter((d) => !d.needs.images?.length)) {
      expect(photoGrants(def), def.id).toEqual([]);
      expect(envOf(def)[ENV.imagesBucket], def.id).toBeUndefined();
    }
  });
});

describe('pages (S3 behind CloudFront)', () => {
  it('keeps the bucket private, encrypted and TLS-only, read by CloudFront through origin access control', () => {
    webT.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
    const policy = JSON.stringify(webT.findResources('AWS::S3::BucketPolicy'));
    expect(policy).toContain('aws:SecureTransport');
    expect(policy).toContain('cloudfront.amazonaws.com');
    // The pages' bucket and the photos' (infra/stateful-stack.ts).
    webT.resourceCountIs('AWS::CloudFront::OriginAccessControl', 2);
  });

  it('serves HTTPS only, the page shells for /live|report|replay/{id}, and /config.json uncached', () => {
    const dist = Object.values(webT.findResources('AWS::CloudFront::Distribution'))[0] as Json;
    const config = dist.Properties.DistributionConfig;
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(config.DefaultCacheBehavior.FunctionAssociations).toHaveLength(1);
    expect(config.DefaultCacheBehavior.FunctionAssociations[0].EventType).toBe('viewer-request');
    const configBehavior = config.CacheBehaviors.find((b: Json) => b.PathPattern === '/config.json');
    // The managed CachingDisabled policy.
    expect(configBehavior.CachePolicyId).toBe('4135ea2d-6df8-44a3-9df3-4b5a84be39ad');
    webT.hasResourceProperties('AWS::CloudFront::Function', { FunctionConfig: { Runtime: 'cloudfront-js-2.0' } });
  });

  /** The page function's own code, run here as CloudFront would run it, with a stand-in for its `cloudfront` module. */
  const pageFunction = () => {
    const selected: string[] = [];
    const cf = { selectRequestOriginById: (id: string) => selected.push(id) };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the test runs the function's source text, as CloudFront does
    const handler = new Function('cf', `${PAGE_REWRITE_BODY}; return handler;`)(cf) as (e: {
      request: { uri: string; headers: Record<string, { value: string }> };
    }) => { uri: string };
    const run = (uri: string, agent?: string) => {
      selected.length = 0;
      const out = handler({ request: { uri, headers: agent ? { 'user-agent': { value: agent } } : {} } });
      return { uri: out.uri, origin: selected[0] };
    };
    return run;
  };

  it('rewrites page paths to their shells and leaves everything else alone', () => {
    const run = pageFunction();
    const uri = (u: string) =>
      run(u, 'Mozilla/5.0 (Linux; Android 13; CUBOT KingKong) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36').uri;
    expect(uri('/live/abc123')).toBe('/live/index.html');
    expect(uri('/report/abc123/')).toBe('/report/index.html');
    expect(uri('/replay/Ev_1-x')).toBe('/replay/index.html');
    expect(uri('/assets/live.js')).toBe('/assets/live.js');
    expect(uri('/config.json')).toBe('/config.json');
    expect(uri('/live/a/b')).toBe('/live/a/b');
    expect(run('/live/abc123').uri).toBe('/live/index.html');
    // The organiser's console (no event in its path) and the embed.
    expect(uri('/organiser')).toBe('/organiser/index.html');
    expect(uri('/organiser/')).toBe('/organiser/index.html');
    expect(uri('/organiser/x')).toBe('/organiser/x');
    expect(uri('/embed/Ev_1-x')).toBe('/embed/index.html');
    // Crawlers get the embed's shell, as people do (the snapshot is the live page's).
    expect(run('/embed/Ev_1-x', 'Googlebot/2.1')).toEqual({ uri: '/embed/index.html', origin: undefined });
    expect(PAGE_REWRITE.startsWith("import cf from 'cloudfront';\n")).toBe(true);
  });

  it('sends crawlers and link-preview bots on /live/{id} to the snapshot on the API origin, people to the shell', () => {
    const run = pageFunction();
    for (const agent of [
      'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      'Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)',
      'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
      'Twitterbot/1.0',
      'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
      'WhatsApp/2.23.20.0 A',
      'Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)',
    ]) {
      expect(run('/live/Ev_1-x', agent), agent).toEqual({ uri: '/events/Ev_1-x/snapshot', origin: API_ORIGIN_ID });
    }
    // The reporter's and the replay's pages are not for crawlers; people (any phone) get the shell.
    expect(run('/report/Ev_1-x', 'Googlebot/2.1')).toEqual({ uri: '/report/index.html', origin: undefined });
    for (const agent of [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.40',
      'Mozilla/5.0 (Linux; Android 13; CUBOT KingKong) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36',
    ]) {
      expect(run('/live/Ev_1-x', agent), agent).toEqual({ uri: '/live/index.html', origin: undefined });
    }
  });

  /** A response headers policy's config by its comment's start, its CSP written out (deploy-time tokens as ${token}). */
  const headersPolicy = (comment: string) => {
    const found = Object.entries(webT.findResources('AWS::CloudFront::ResponseHeadersPolicy')).find(([, r]) =>
      String((r as Json).Properties.ResponseHeadersPolicyConfig.Comment).startsWith(comment),
    );
    if (!found) throw new Error(`no headers policy ${comment}`);
    const config = (found[1] as Json).Properties.ResponseHeadersPolicyConfig;
    const csp = config.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy as
      string | { 'Fn::Join': [string, unknown[]] };
    const text =
      typeof csp === 'string' ? csp : csp['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : '${token}')).join('');
    return { id: found[0], config, csp: text };
  };

  it("lets every path be framed by the pages' own origin only, /embed/* by the sites the stage names (no X-Frame-Options there)", () => {
    const pages = headersPolicy('livecast pages');
    expect(pages.config.SecurityHeadersConfig.FrameOptions).toEqual({ FrameOption: 'SAMEORIGIN', Override: true });
    expect(pages.csp).toMatch(/; frame-ancestors 'self'$/);
    const embed = headersPolicy('livecast /embed/*');
    expect(embed.config.SecurityHeadersConfig.FrameOptions).toBeUndefined();
    expect(embed.csp).toMatch(/; frame-ancestors 'self' https:\/\/portal\.example\.org$/);
    // Otherwise the same policy as the pages'.
    expect(embed.csp.replace(/; frame-ancestors .*$/, '')).toBe(pages.csp.replace(/; frame-ancestors .*$/, ''));
    const dist = Object.values(webT.findResources('AWS::CloudFront::Distribution'))[0] as Json;
    const config = dist.Properties.DistributionConfig;
    const behavior = config.CacheBehaviors.find((b: Json) => b.PathPattern === '/embed/*');
    expect(behavior.ResponseHeadersPolicyId).toEqual({ Ref: embed.id });
    expect(behavior.TargetOriginId).toBe(config.DefaultCacheBehavior.TargetOriginId);
    expect(behavior.FunctionAssociations).toEqual(config.DefaultCacheBehavior.FunctionAssociations);
    expect(behavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    // Every other behavior carries the pages' policy.
    for (const b of [
      config.DefaultCacheBehavior,
      ...config.CacheBehaviors.filter((c: Json) => c.PathPattern !== '/embed/*'),
    ]) {
      expect(b.ResponseHeadersPolicyId, b.PathPattern ?? 'default').toEqual({ Ref: pages.id });
    }
  });

  it('serves feeds and snapshots on the pages origin from the HTTP API, cached as the API says', () => {
    const dist = Object.values(webT.findResources('AWS::CloudFront::Distribution'))[0] as Json;
    const config = dist.Properties.DistributionConfig;
    const apiOrigin = config.Origins.find((o: Json) => o.Id === API_ORIGIN_ID);
    expect(apiOrigin.CustomOriginConfig.OriginProtocolPolicy).toBe('https-only');
    expect(JSON.stringify(apiOrigin.DomainName)).toContain('HttpApi');
    const behaviors = config.CacheBehaviors.filter((b: Json) => b.TargetOriginId === API_ORIGIN_ID);
    expect(behaviors.map((b: Json) => b.PathPattern).sort()).toEqual([...API_PATHS].sort());
    const [policy] = Object.values(webT.findResources('AWS::CloudFront::CachePolicy')) as Json[];
    const cfg = policy!.Properties.CachePolicyConfig;
    expect([cfg.MinTTL, cfg.DefaultTTL]).toEqual([0, 0]);
    expect(cfg.ParametersInCacheKeyAndForwardedToOrigin.QueryStringsConfig.QueryStringBehavior).toBe('none');
    for (const b of behaviors) {
      expect(b.AllowedMethods).toEqual(['GET', 'HEAD']);
      expect(b.OriginRequestPolicyId).toBeUndefined();
    }
    // Each path the CDN sends there is a route of the HTTP API.
    for (const path of API_PATHS) {
      const key = `GET ${path.replace('*', '{eventId}')}`;
      expect(
        httpRoutes.some((r) => r.routeKey === key),
        key,
      ).toBe(true);
    }
  });

  it("deploys the built pages with a config.json naming the API stack's HTTP and WebSocket URLs, and invalidates the CDN", () => {
    const deployments = Object.values(webT.findResources('Custom::CDKBucketDeployment')) as Json[];
    expect(deployments).toHaveLength(2);
    const pages = deployments.find((d) => d.Properties.DistributionPaths)!;
    const assets = deployments.find((d) => !d.Properties.DistributionPaths)!;
    expect(pages.Properties.SourceObjectKeys).toHaveLength(2);
    expect(pages.Properties.DistributionPaths).toEqual(['/*']);
    const markers = JSON.stringify(pages.Properties.SourceMarkers);
    expect(markers).toContain(`"StackName":"${api.stackName}"`);
    expect(markers).toMatch(/"OutputName":"PublishOutput.*HttpApi/);
    expect(markers).toMatch(/"OutputName":"PublishOutput.*WebSocketApi/);
    expect(web.dependencies).toContain(api);
    webT.hasOutput('PagesUrl', {});
    // Shells revalidated, hashed assets cached for good; neither upload deletes the other's files.
    expect(pages.Properties.Exclude).toEqual(['assets/*']);
    expect(pages.Properties.SystemMetadata['cache-control']).toBe('no-cache');
    expect(assets.Properties.Include).toEqual(['assets/*']);
    expect(assets.Properties.SystemMetadata['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(pages.Properties.Prune).toBe(false);
    expect(assets.Properties.Prune).toBe(false);
  });

  it("sends a CSP whose connect-src names only the pages' own origin, the deployed API origins and the photos' bucket", () => {
    const policies = Object.entries(webT.findResources('AWS::CloudFront::ResponseHeadersPolicy')) as [string, Json][];
    // The pages' and the embed's (which differs only in who may frame it: the test above).
    expect(policies).toHaveLength(2);
    const [policyId, policy] = policies.find(([, p]) =>
      String(p.Properties.ResponseHeadersPolicyConfig.Comment).startsWith('livecast pages'),
    )!;
    const headers = policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    expect(headers.ContentSecurityPolicy.Override).toBe(true);
    const csp = render(resolveImports(headers.ContentSecurityPolicy.ContentSecurityPolicy));
    const directives = new Map(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...values]) => [name!, values]),
    );
    const connect = directives.get('connect-src') ?? [];
    // The origins of the URLs config.json hands the pages (the stage URLs without their paths).
    const origin = (url: string) => /^(https|wss):\/\/[^/]+/.exec(render(api.resolve(url)))![0];
    expect(connect).toEqual(["'self'", origin(api.httpStage.url), origin(api.webSocketStage.url), connect[3]]);
    // The console's presigned POST goes to the bucket's regional endpoint, where createPresignedPost points it.
    expect(connect[3]).toBe(`https://\${${logicalId(data, data.images)}.RegionalDomainName}`);
    // The console shows a photo before upload from a blob: URL; photos themselves are on the pages' origin.
    expect(directives.get('img-src')).toEqual(["'self'", 'data:', 'blob:']);
    expect(connect[1]).toBe(
      `https://\${${logicalId(api, api.httpApi)}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}`,
    );
    expect(connect[2]).toBe(
      `wss://\${${logicalId(api, api.webSocketApi)}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}`,
    );
    for (const source of connect) {
      expect(source).not.toMatch(/^(https?|wss?):$/);
      expect(source).not.toContain('*');
    }
    // Everything else as the shells' meta policy has it: scripts and styles only from the pages' origin.
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('default-src')).toEqual(["'self'"]);
    // What the managed SecurityHeadersPolicy sent before, still sent.
    expect(headers).toMatchObject({
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: 'SAMEORIGIN' },
      ReferrerPolicy: { ReferrerPolicy: 'strict-origin-when-cross-origin' },
      StrictTransportSecurity: { AccessControlMaxAgeSec: 31_536_000 },
      XSSProtection: { Protection: true, ModeBlock: true },
    });
    // On the shells and on config.json alike (the embed's shell has its own).
    const config = (Object.values(webT.findResources('AWS::CloudFront::Distribution'))[0] as Json).Properties
      .DistributionConfig;
    for (const behavior of [
      config.DefaultCacheBehavior,
      ...config.CacheBehaviors.filter((b: Json) => b.PathPattern !== '/embed/*'),
    ]) {
      expect(behavior.ResponseHeadersPolicyId).toEqual({ Ref: policyId });
    }
  });

  it('refuses an API origin that is a wildcard, a bare scheme or has a path', () => {
    for (const bad of [
      'https:',
      'wss:',
      'https://*.amazonaws.com',
      'https://abc.execute-api.eu-west-1.amazonaws.com/',
      'wss://a.example/live',
      'http://a.example',
    ]) {
      expect(() => pagesCsp([bad]), bad).toThrow(/expected https:\/\/host or wss:\/\/host/);
    }
    expect(pagesCsp(['https://a.example', 'wss://b.example'])).toContain(
      "connect-src 'self' https://a.example wss://b.example;",
    );
  });

  it('lets the pages on the CDN call the HTTP API across origins', () => {
    apiT.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: { AllowOrigins: ['*'], AllowMethods: ['GET', 'POST'] },
    });
  });
});

describe('failures', () => {
  const queueId = (key: keyof typeof failureQueues) => logicalId(data, data.failureQueues[key]);
  const mappingOf = (def: FunctionDef) =>
    Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping')).find((m) =>
      JSON.stringify(m.Properties.FunctionName).includes(fnId(def)),
    )!.Properties;

  it('keeps two queues in the data stack: encrypted, two weeks, TLS only, retained', () => {
    const queues = resourcesOf(dataT, 'AWS::SQS::Queue');
    expect(Object.keys(queues).sort()).toEqual([queueId('streams'), queueId('worker')].sort());
    for (const queue of Object.values(queues)) {
      expect(queue.Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
      expect(queue.DeletionPolicy).toBe('Retain');
    }
    for (const key of ['streams', 'worker'] as const) {
      const policy = Object.values(resourcesOf(dataT, 'AWS::SQS::QueuePolicy')).find((p) =>
        JSON.stringify(p.Properties.Queues).includes(queueId(key)),
      );
      expect(policy?.Properties.PolicyDocument.Statement, key).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    // The redrive command finds them by these outputs.
    dataT.hasOutput(`${failureQueues.streams.id}QueueUrl`, { Value: { Ref: queueId('streams') } });
    dataT.hasOutput(`${failureQueues.worker.id}QueueUrl`, { Value: { Ref: queueId('worker') } });
  });

  it.each(streamTriggers.map((t) => [t.id, t] as const))(
    '%s sends exhausted batches to the stream failure queue, with the age, bisect and per-record settings of shared/routes.ts',
    (_id, trigger) => {
      const mapping = mappingOf(trigger);
      expect(resolveImports(mapping.DestinationConfig)).toEqual({
        OnFailure: { Destination: arnOf(queueId('streams')) },
      });
      expect(mapping).toMatchObject({
        MaximumRecordAgeInSeconds: trigger.stream.maxRecordAgeSeconds,
        MaximumRetryAttempts: trigger.stream.retryAttempts,
        BisectBatchOnFunctionError: trigger.stream.bisectBatchOnError,
      });
      // The handlers answer { batchItemFailures }: without this Lambda would read every answer as success.
      expect(mapping.FunctionResponseTypes).toEqual(
        trigger.stream.reportBatchItemFailures ? ['ReportBatchItemFailures'] : undefined,
      );
      // Lambda sends the failure record with the function's role: it may send there, and only there.
      const sends = statementsOf(trigger).filter((s) => s.actions.includes('sqs:SendMessage'));
      expect(sends.flatMap((s) => s.resources)).toEqual([arnOf(queueId('streams'))]);
    },
  );

  it('retries a failed worker invocation twice, for at most 15 minutes, then keeps it in the worker failure queue', () => {
    const configs = Object.values(resourcesOf(apiT, 'AWS::Lambda::EventInvokeConfig'));
    expect(configs).toHaveLength(1);
    const config = configs[0]!.Properties;
    expect(config.FunctionName).toEqual({ Ref: fnId(deliveryWorker) });
    expect(config.Qualifier).toBe('$LATEST');
    expect(config).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 });
    expect(resolveImports(config.DestinationConfig)).toEqual({ OnFailure: { Destination: arnOf(queueId('worker')) } });
    const sends = statementsOf(deliveryWorker).filter((s) => s.actions.includes('sqs:SendMessage'));
    expect(sends.flatMap((s) => s.resources)).toEqual([arnOf(queueId('worker'))]);
  });

  it('lets the worker invoke itself without Lambda cutting the hand-over chain, and no other function', () => {
    expect(fnResource(deliveryWorker).Properties.RecursiveLoop).toBe('Allow');
    for (const def of allDefs.filter((d) => d !== deliveryWorker))
      expect(fnResource(def).Properties.RecursiveLoop, def.id).toBeUndefined();
  });

  it('runs the delivery watchdog every minute, small and long enough to check for most of it', () => {
    const rule = (Object.values(apiT.findResources('AWS::Events::Rule')) as Json[]).find((r) =>
      JSON.stringify(r.Properties.Targets).includes(fnId(deliveryWatchdog)),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    const fn = fnResource(deliveryWatchdog).Properties;
    expect(fn).toMatchObject({ MemorySize: 128, Timeout: deliveryWatchdog.timeoutSeconds });
    expect(deliveryWatchdog.runSeconds + deliveryWatchdog.checkEverySeconds).toBeLessThan(
      deliveryWatchdog.timeoutSeconds,
    );
    // It reads the leases and cursors, keeps its watch list in the Delivery table, reads the events' lastChange and starts workers.
    expect(tableActions(deliveryWatchdog, deliveryTable).has('dynamodb:UpdateItem')).toBe(true);
    expect(tableActions(deliveryWatchdog, eventsTable).has('dynamodb:GetItem')).toBe(true);
    expect(tableActions(deliveryWatchdog, eventsTable).has('dynamodb:UpdateItem')).toBe(false);
    const invoke = statementsOf(deliveryWatchdog).filter((s) => s.actions.includes('lambda:InvokeFunction'));
    expect(JSON.stringify(invoke.map((s) => s.resources))).toContain(fnId(deliveryWorker));
    expect(envOf(deliveryWatchdog)[ENV.workerFunction]).toEqual({ Ref: fnId(deliveryWorker) });
  });

  it('lets the wake-up write the watch list in the Delivery table', () => {
    expect(tableActions(deliveryWake, deliveryTable).has('dynamodb:UpdateItem')).toBe(true);
  });
});

describe('throttles', () => {
  const stages = () => Object.entries(resourcesOf(apiT, 'AWS::ApiGatewayV2::Stage'));
  const stageOf = (apiConstruct: IConstruct) =>
    stages().find(([, st]) => st.Properties.ApiId.Ref === logicalId(api, apiConstruct))!;
  /** Each route's rate as deployed: its own line in RouteSettings, or the stage's default. */
  const ratesOf = (apiConstruct: IConstruct, routeKeys: readonly string[]) => {
    const [, stage] = stageOf(apiConstruct);
    const own = (stage.Properties.RouteSettings ?? {}) as Record<string, { ThrottlingRateLimit: number }>;
    const fallback = stage.Properties.DefaultRouteSettings.ThrottlingRateLimit as number;
    return new Map(routeKeys.map((k) => [k, own[k]?.ThrottlingRateLimit ?? fallback]));
  };
  const sum = (rates: Map<string, number>) => [...rates.values()].reduce((a, b) => a + b, 0);

  it('give every WebSocket route its own throttle, publish above every anonymous route', () => {
    const [, stage] = stageOf(api.webSocketApi);
    expect(Object.keys(stage.Properties.RouteSettings).sort()).toEqual(wsRoutes.map((r) => r.routeKey).sort());
    const rates = ratesOf(
      api.webSocketApi,
      wsRoutes.map((r) => r.routeKey),
    );
    for (const anonymous of ['sync', 'repost', 'ping', '$default']) {
      expect(rates.get(anonymous), anonymous).toBeLessThan(rates.get('publish')!);
    }
    // The reporter's writes: dozens within a few seconds (an outbox re-sending after a drop) fit in the burst alone.
    for (const write of ['publish', 'edit', 'delete', 'pin']) {
      expect(stage.Properties.RouteSettings[write].ThrottlingBurstLimit, write).toBeGreaterThanOrEqual(100);
    }
    expect(stage.Properties.RouteSettings).toEqual(
      Object.fromEntries(
        Object.entries(WS_ROUTE_THROTTLES).map(([k, t]) => [
          k,
          { ThrottlingRateLimit: t.rateLimit, ThrottlingBurstLimit: t.burstLimit },
        ]),
      ),
    );
  });

  it('give the HTTP routes theirs', () => {
    const [, stage] = stageOf(api.httpApi);
    expect(stage.Properties.RouteSettings).toEqual(
      Object.fromEntries(
        Object.entries(HTTP_ROUTE_THROTTLES).map(([k, t]) => [
          k,
          { ThrottlingRateLimit: t.rateLimit, ThrottlingBurstLimit: t.burstLimit },
        ]),
      ),
    );
  });

  it("leave publish its share of the account's 10,000 requests/s with every route at its throttle", () => {
    const ws = ratesOf(
      api.webSocketApi,
      wsRoutes.map((r) => r.routeKey),
    );
    const http = ratesOf(
      api.httpApi,
      httpRoutes.map((r) => r.routeKey),
    );
    // sync's replies are @connections posts too: one coalesced post per sync.
    const syncReplies = ws.get('sync')!;
    // The stack sets no LIVECAST_DELIVERY_BUDGET: the workers pace themselves to the configuration's default.
    expect(envOf(deliveryWorker)[ENV.deliveryBudget]).toBeUndefined();
    const delivery = loadConfig(Object.fromEntries(tables.map((t) => [t.envVar, t.id]))).deliveryBudget;
    expect(delivery + sum(ws) + syncReplies + sum(http)).toBeLessThanOrEqual(10_000);
  });

  it('deploy each stage after the routes its RouteSettings name (CloudFormation refuses settings for a route not yet there)', () => {
    for (const [apiConstruct, defs] of [
      [api.webSocketApi, wsRoutes],
      [api.httpApi, httpRoutes],
    ] as const) {
      const [stageId, stage] = stageOf(apiConstruct);
      const dependsOn = new Set<string>(apiT.toJSON().Resources[stageId].DependsOn ?? []);
      const routeIds = routesOf(logicalId(api, apiConstruct));
      for (const key of Object.keys(stage.Properties.RouteSettings)) {
        expect(
          defs.some((d) => d.routeKey === key),
          key,
        ).toBe(true);
        expect(dependsOn.has(routeIds.get(key)![0]), key).toBe(true);
      }
    }
  });
});
