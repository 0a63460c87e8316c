// CDK assertion tests: the synthesized templates wire every route, key and permission the way shared/ says.
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLivecast } from '../../infra/livecast-app';
import { PAGE_REWRITE, type WebStack } from '../../infra/web-stack';
import { buildWeb } from '../../web/build';
import type { StatefulStack } from '../../infra/stateful-stack';
import { httpRouteKey, type StatelessStack } from '../../infra/stateless-stack';
import { ENV } from '../../shared/config';
import {
  deliveryWake,
  deliveryWatchdog,
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
  type ScheduledDef,
} from '../../shared/routes';
import { changesTable, connectionsTable, deliveryTable, entriesTable, eventsTable, repostCountsTable, repostsTable, tables, type KeyDef, type TableDef } from '../../shared/tables';

// CloudFormation JSON is untyped by nature; these aliases keep the `any` in one place.
type Json = any;
type Resources = Record<string, Json>;
interface Statement {
  readonly actions: readonly string[];
  readonly resources: readonly Json[];
}

const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'];
const allDefs: readonly FunctionDef[] = [wsAuthorizer, ...wsRoutes, ...httpRoutes, deliveryWorker, ...streamTriggers, ...scheduled];

let data: StatefulStack;
let api: StatelessStack;
let dataT: Template;
let apiT: Template;
let web: WebStack;
let webT: Template;
let exportsByName: Record<string, Json>;

beforeAll(() => {
  // One synthesis (it runs esbuild for every function) shared by every test below.
  const webDir = join(mkdtempSync(join(tmpdir(), 'livecast-synth-')), 'web');
  buildWeb(webDir);
  ({ data, api, web } = buildLivecast(new App(), { webDir }));
  dataT = Template.fromStack(data);
  apiT = Template.fromStack(api);
  webT = Template.fromStack(web);
  exportsByName = {};
  for (const output of Object.values(dataT.toJSON().Outputs ?? {}) as Json[]) {
    if (output.Export?.Name) exportsByName[output.Export.Name] = output.Value;
  }
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

/** Replaces cross-stack imports with what the data stack exports, so references compare as plain GetAtt/Ref. */
function resolveImports(value: Json): Json {
  if (Array.isArray(value)) return value.map(resolveImports);
  if (value && typeof value === 'object') {
    const name = value['Fn::ImportValue'];
    if (typeof name === 'string') {
      if (!(name in exportsByName)) throw new Error(`import ${name} is not exported by the data stack`);
      return exportsByName[name];
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

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const touches = (s: Statement, id: string) => s.resources.some((r) => JSON.stringify(r) === JSON.stringify(arnOf(id)));

function tableActions(def: FunctionDef, table: TableDef): Set<string> {
  const id = tableId(table);
  return new Set(statementsOf(def).filter((s) => touches(s, id)).flatMap((s) => s.actions));
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
      DefaultRouteSettings: { ThrottlingRateLimit: 2000, ThrottlingBurstLimit: 1000 },
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
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 500 },
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
    expect(table.Properties.AttributeDefinitions).toEqual(
      [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])].map(toAttr),
    );
    expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
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

  it('is readable by the create-event function and by no other', () => {
    const key = JSON.stringify({ Ref: logicalId(data, data.adminKey) });
    const readers = allDefs.filter((def) =>
      statementsOf(def).some((s) => s.actions.includes('secretsmanager:GetSecretValue') && s.resources.some((r) => JSON.stringify(r) === key)),
    );
    expect(readers.map((d) => d.id)).toEqual([httpRoutes.find((r) => r.routeKey === 'POST /events')!.id]);
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
      const shaped = (scheduled as readonly ScheduledDef[]).find((def) => fn === fnResource(def));
      expect(fn.Properties.MemorySize).toBe(shaped?.memoryMB ?? 512);
      const worker = fn === fnResource(deliveryWorker);
      expect(fn.Properties.Timeout).toBe(worker ? 900 : (shaped?.timeoutSeconds ?? Math.min(fn.Properties.Timeout, 29)));
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
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
      if (!def.needs.manageConnections) {
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
  const publish = wsRoutes.find((r) => r.routeKey === 'publish')!;

  it('let publish post to connections of the live stage and write entries', () => {
    const statements = statementsOf(publish);
    const manage = statements.filter((s) => s.actions.includes('execute-api:ManageConnections'));
    expect(manage).toHaveLength(1);
    const arn = JSON.stringify(manage[0]!.resources);
    expect(arn).toContain(logicalId(api, api.webSocketApi));
    expect(arn).toContain('/live/*/@connections/*');
    expect([...tableActions(publish, entriesTable)]).toEqual(expect.arrayContaining([...WRITE_ACTIONS, ...READ_ACTIONS]));
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

  it.each(allDefs.map((d) => [d.id, d] as const))('give %s exactly the table access it declares', (_id, def) => {
    for (const table of tables) {
      const actions = tableActions(def, table);
      const declared = def.needs.tables.find(([t]) => t.id === table.id)?.[1];
      const writes = WRITE_ACTIONS.filter((a) => actions.has(a));
      const reads = READ_ACTIONS.filter((a) => actions.has(a));
      expect(writes, table.id).toEqual(declared === 'readWrite' ? WRITE_ACTIONS : []);
      expect(reads, table.id).toEqual(declared ? READ_ACTIONS : []);
    }
    const manages = statementsOf(def).some((s) => s.actions.includes('execute-api:ManageConnections'));
    expect(manages).toBe(Boolean(def.needs.manageConnections));
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
    const mapping = mappings.find((m) => JSON.stringify(m.Properties.FunctionName).includes(fnId(deliveryWake)))!.Properties;
    expect(mapping.FunctionName).toEqual({ Ref: fnId(deliveryWake) });
    expect(JSON.stringify(resolveImports(mapping.EventSourceArn))).toContain(tableId(changesTable));
    expect(mapping).toMatchObject({ BatchSize: 100, StartingPosition: 'LATEST', BisectBatchOnFunctionError: true, MaximumRetryAttempts: 10 });
  });

  it('lets the wake-up trigger start workers by name, and a worker start its successor', () => {
    const invoke = statementsOf(deliveryWake).filter((s) => s.actions.includes('lambda:InvokeFunction'));
    expect(JSON.stringify(invoke.map((s) => s.resources))).toContain(fnId(deliveryWorker));
    expect(envOf(deliveryWake)[ENV.workerFunction]).toEqual({ Ref: fnId(deliveryWorker) });
    const self = Object.values(resourcesOf(apiT, 'AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p.Properties.FunctionName).includes(fnId(deliveryWorker)),
    );
    expect(self).toHaveLength(1);
    expect(JSON.stringify(self[0]!.Properties.Principal)).toContain(fnResource(deliveryWorker).Properties.Role['Fn::GetAtt'][0]);
  });

  it('gives only the reporter routes, delivery and $connect/$disconnect access to what they write', () => {
    expect(tableActions(deliveryWorker, changesTable).has('dynamodb:PutItem')).toBe(false);
    expect(tableActions(deliveryWorker, connectionsTable).has('dynamodb:DeleteItem')).toBe(true);
  });
});

describe('reposts', () => {
  it('routes repost to its function, which reads entries and writes only the Reposts table', () => {
    const route = Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::Route')).find((r) => r.Properties.RouteKey === 'repost');
    expect(route).toBeDefined();
    const repost = wsRoutes.find((r) => r.routeKey === 'repost')!;
    expect(tableActions(repost, repostsTable).has('dynamodb:PutItem')).toBe(true);
    expect(tableActions(repost, entriesTable).has('dynamodb:PutItem')).toBe(false);
    expect(tableActions(repost, repostCountsTable).size).toBe(0);
  });

  it('tallies from the Reposts stream in big batches, retrying and bisecting failed ones', () => {
    expect(dataT.toJSON().Resources[tableId(repostsTable)].Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_IMAGE' });
    const mapping = Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping')).find((m) =>
      JSON.stringify(m.Properties.FunctionName).includes(fnId(repostTally)),
    )!.Properties;
    expect(JSON.stringify(resolveImports(mapping.EventSourceArn))).toContain(tableId(repostsTable));
    expect(mapping).toMatchObject({ BatchSize: 1000, StartingPosition: 'LATEST', BisectBatchOnFunctionError: true, MaximumRetryAttempts: 10 });
    expect(tableActions(repostTally, repostCountsTable).has('dynamodb:UpdateItem')).toBe(true);
    // Stats and spike frames: the event's counter and a line in the change log, in one transaction.
    expect(tableActions(repostTally, eventsTable).has('dynamodb:UpdateItem')).toBe(true);
    expect(tableActions(repostTally, changesTable).has('dynamodb:PutItem')).toBe(true);
    // The stream is read through the event source mapping, the table itself never written.
    expect(tableActions(repostTally, repostsTable).has('dynamodb:PutItem')).toBe(false);
  });

  it('sends viewer counts from the Connections stream (keys only)', () => {
    expect(dataT.toJSON().Resources[tableId(connectionsTable)].Properties.StreamSpecification).toEqual({ StreamViewType: 'KEYS_ONLY' });
    const mapping = Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping')).find((m) =>
      JSON.stringify(m.Properties.FunctionName).includes(fnId(viewerStats)),
    )!.Properties;
    expect(JSON.stringify(resolveImports(mapping.EventSourceArn))).toContain(tableId(connectionsTable));
    expect(tableActions(viewerStats, changesTable).has('dynamodb:PutItem')).toBe(true);
    expect(tableActions(viewerStats, connectionsTable).size).toBe(0);
  });

  it('serves GET /events/{eventId}/reposts', () => {
    const route = Object.values(resourcesOf(apiT, 'AWS::ApiGatewayV2::Route')).find((r) => r.Properties.RouteKey === 'GET /events/{eventId}/reposts');
    expect(route).toBeDefined();
  });

  it('lets GET /events/{eventId}/reposts read and never write', () => {
    const reads = httpRoutes.find((r) => r.routeKey === 'GET /events/{eventId}/reposts')!;
    const writes = statementsOf(reads).flatMap((s) => s.actions).filter((a) => WRITE_ACTIONS.includes(a) || a === 'dynamodb:TransactWriteItems');
    expect(writes).toEqual([]);
    expect(tableActions(reads, repostCountsTable).has('dynamodb:Query')).toBe(true);
  });

  it('expires repost rows by TTL (expiresAt), keeping the counts', () => {
    const table = resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(repostsTable)];
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(resourcesOf(dataT, 'AWS::DynamoDB::Table')[tableId(repostCountsTable)].Properties.TimeToLiveSpecification).toBeUndefined();
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
      statementsOf(def).some((s) => s.actions.includes('secretsmanager:GetSecretValue') && s.resources.some((r) => JSON.stringify(r) === JSON.stringify(key))),
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

describe('pages (S3 behind CloudFront)', () => {
  it('keeps the bucket private, encrypted and TLS-only, read by CloudFront through origin access control', () => {
    webT.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    const policy = JSON.stringify(webT.findResources('AWS::S3::BucketPolicy'));
    expect(policy).toContain('aws:SecureTransport');
    expect(policy).toContain('cloudfront.amazonaws.com');
    webT.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
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

  it('rewrites page paths to their shells and leaves everything else alone', () => {
    // The function's own code, run here as CloudFront would run it.
    const handler = new Function(`${PAGE_REWRITE}; return handler;`)() as (e: { request: { uri: string } }) => { uri: string };
    const uri = (u: string) => handler({ request: { uri: u } }).uri;
    expect(uri('/live/abc123')).toBe('/live/index.html');
    expect(uri('/report/abc123/')).toBe('/report/index.html');
    expect(uri('/replay/Ev_1-x')).toBe('/replay/index.html');
    expect(uri('/assets/live.js')).toBe('/assets/live.js');
    expect(uri('/config.json')).toBe('/config.json');
    expect(uri('/live/a/b')).toBe('/live/a/b');
  });

  it('deploys the built pages with a config.json naming the API stack\'s HTTP and WebSocket URLs, and invalidates the CDN', () => {
    const deployments = Object.values(webT.findResources('Custom::CDKBucketDeployment')) as Json[];
    expect(deployments).toHaveLength(2);
    const pages = deployments.find((d) => d.Properties.DistributionPaths)!;
    const assets = deployments.find((d) => !d.Properties.DistributionPaths)!;
    expect(pages.Properties.SourceObjectKeys).toHaveLength(2);
    expect(pages.Properties.DistributionPaths).toEqual(['/*']);
    const markers = JSON.stringify(pages.Properties.SourceMarkers);
    expect(markers).toMatch(/Livecast-Api:ExportsOutput.*HttpApi/);
    expect(markers).toMatch(/Livecast-Api:ExportsOutput.*WebSocketApi/);
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
    Object.values(resourcesOf(apiT, 'AWS::Lambda::EventSourceMapping')).find((m) => JSON.stringify(m.Properties.FunctionName).includes(fnId(def)))!
      .Properties;

  it('keeps two queues in the data stack: encrypted, two weeks, TLS only, retained', () => {
    const queues = resourcesOf(dataT, 'AWS::SQS::Queue');
    expect(Object.keys(queues).sort()).toEqual([queueId('streams'), queueId('worker')].sort());
    for (const queue of Object.values(queues)) {
      expect(queue.Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
      expect(queue.DeletionPolicy).toBe('Retain');
    }
    for (const key of ['streams', 'worker'] as const) {
      const policy = Object.values(resourcesOf(dataT, 'AWS::SQS::QueuePolicy')).find((p) => JSON.stringify(p.Properties.Queues).includes(queueId(key)));
      expect(policy?.Properties.PolicyDocument.Statement, key).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    // The redrive command finds them by these outputs.
    dataT.hasOutput(`${failureQueues.streams.id}QueueUrl`, { Value: { Ref: queueId('streams') } });
    dataT.hasOutput(`${failureQueues.worker.id}QueueUrl`, { Value: { Ref: queueId('worker') } });
  });

  it.each(streamTriggers.map((t) => [t.id, t] as const))('%s sends exhausted batches to the stream failure queue, with the age, bisect and per-record settings of shared/routes.ts', (_id, trigger) => {
    const mapping = mappingOf(trigger);
    expect(resolveImports(mapping.DestinationConfig)).toEqual({ OnFailure: { Destination: arnOf(queueId('streams')) } });
    expect(mapping).toMatchObject({
      MaximumRecordAgeInSeconds: trigger.stream.maxRecordAgeSeconds,
      MaximumRetryAttempts: trigger.stream.retryAttempts,
      BisectBatchOnFunctionError: trigger.stream.bisectBatchOnError,
    });
    // The handlers answer { batchItemFailures }: without this Lambda would read every answer as success.
    expect(mapping.FunctionResponseTypes).toEqual(trigger.stream.reportBatchItemFailures ? ['ReportBatchItemFailures'] : undefined);
    // Lambda sends the failure record with the function's role: it may send there, and only there.
    const sends = statementsOf(trigger).filter((s) => s.actions.includes('sqs:SendMessage'));
    expect(sends.flatMap((s) => s.resources)).toEqual([arnOf(queueId('streams'))]);
  });

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
    for (const def of allDefs.filter((d) => d !== deliveryWorker)) expect(fnResource(def).Properties.RecursiveLoop, def.id).toBeUndefined();
  });

  it('runs the delivery watchdog every minute, small and long enough to check for most of it', () => {
    const rule = (Object.values(apiT.findResources('AWS::Events::Rule')) as Json[]).find((r) =>
      JSON.stringify(r.Properties.Targets).includes(fnId(deliveryWatchdog)),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    const fn = fnResource(deliveryWatchdog).Properties;
    expect(fn).toMatchObject({ MemorySize: 128, Timeout: deliveryWatchdog.timeoutSeconds });
    expect(deliveryWatchdog.runSeconds + deliveryWatchdog.checkEverySeconds).toBeLessThan(deliveryWatchdog.timeoutSeconds);
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
