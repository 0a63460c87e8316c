// The stages (infra/stages.ts): what prod and dev synthesize differently, what context is refused,
// custom domains only when configured, and no CloudFormation export between the stacks.
import { App, Token, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLivecast, type LivecastStacks } from '../../infra/livecast-app';
import { addNagChecks } from '../../infra/nag';
import { DEFAULT_STAGE, stageConfig } from '../../infra/stages';
import { STAGE_ENV } from '../../shared/observability/names';
import { tables } from '../../shared/tables';
import { buildWeb } from '../../web/build';

// CloudFormation JSON is untyped by nature.
type Json = any;

const API_CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const WEB_CERT = 'arn:aws:acm:us-east-1:123456789012:certificate/66666666-7777-8888-9999-000000000000';
const DOMAINS = {
  apiCertificateArn: API_CERT,
  httpDomain: 'api.example.com',
  wsDomain: 'live.example.com',
  webCertificateArn: WEB_CERT,
  webDomain: 'www.example.com',
};

let webDir: string;
let dev: LivecastStacks;
let prod: LivecastStacks;
let withDomains: LivecastStacks;
let withDomainsApp: App;
let prodApp: App;

/** Bundling skipped as in stacks.test.ts: the templates are what these tests read. */
function build(context: Record<string, unknown>): { app: App; stacks: LivecastStacks } {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [], ...context },
    outdir: mkdtempSync(join(tmpdir(), 'livecast-env-out-')),
  });
  return { app, stacks: buildLivecast(app, { webDir }) };
}

const templates = new Map<Stack, Json>();
/** Each stack's template, synthesized once (in beforeAll: a synthesis takes tens of seconds on a busy machine). */
const json = (stack: Stack): Json => {
  if (!templates.has(stack)) templates.set(stack, Template.fromStack(stack).toJSON());
  return templates.get(stack);
};
const resources = (stack: Stack, type: string): [string, Json][] =>
  Object.entries(json(stack).Resources as Record<string, Json>).filter(([, r]) => r.Type === type);
const tableOf = (s: LivecastStacks, id: string): Json => {
  const table = s.data.tables[id as keyof typeof s.data.tables];
  return json(s.data).Resources[s.data.getLogicalId(table.node.defaultChild as Parameters<Stack['getLogicalId']>[0])];
};

beforeAll(() => {
  webDir = join(mkdtempSync(join(tmpdir(), 'livecast-env-')), 'web');
  buildWeb(webDir);
  dev = build({}).stacks;
  ({ app: prodApp, stacks: prod } = build({ stage: 'prod', account: '123456789012', region: 'eu-west-1' }));
  ({ app: withDomainsApp, stacks: withDomains } = build({ stage: 'prod', region: 'eu-west-1', ...DOMAINS }));
  for (const s of [dev, prod, withDomains]) for (const stack of [s.data, s.api, s.web]) json(stack);
}, 600_000);

describe('the stage', () => {
  it(`is ${DEFAULT_STAGE} when none is given: production only when a command says so`, () => {
    expect(DEFAULT_STAGE).toBe('dev');
    expect(dev.stage.name).toBe('dev');
  });

  it('refuses an unknown stage, naming the ones there are, and builds nothing', () => {
    const app = new App({ context: { stage: 'production' } });
    expect(() => buildLivecast(app, { webDir })).toThrow(/unknown stage "production": expected one of dev, prod/);
    expect(app.node.children).toHaveLength(0);
    expect(() => stageConfig(() => 'Prod')).toThrow(/unknown stage "Prod"/);
    // The embed's framing sites: checked like every other key, 'self' when unset.
    expect(stageConfig(() => undefined).embedAncestors).toEqual(["'self'"]);
    expect(
      stageConfig((k) => (k === 'embedAncestors' ? 'https://portal.example.org' : undefined)).embedAncestors,
    ).toEqual(['https://portal.example.org']);
    expect(() => stageConfig((k) => (k === 'embedAncestors' ? "* ; script-src 'unsafe-inline'" : undefined))).toThrow(
      /context 'embedAncestors': .*"\*" is not a source/,
    );
  });

  it('names every stack after the stage, so dev and prod can share an account', () => {
    expect([dev.data, dev.api, dev.web].map((s) => s.stackName)).toEqual([
      'Livecast-dev-Data',
      'Livecast-dev-Api',
      'Livecast-dev-Web',
    ]);
    expect([prod.data, prod.api, prod.web].map((s) => s.stackName)).toEqual([
      'Livecast-prod-Data',
      'Livecast-prod-Api',
      'Livecast-prod-Web',
    ]);
  });

  it.each([['dev'], ['prod']] as const)('%s: tags every stack and its resources with project and stage', (name) => {
    const s = name === 'dev' ? dev : prod;
    for (const stack of [s.data, s.api, s.web]) {
      // Applied (as an aspect) when the app synthesized, in beforeAll.
      expect(stack.tags.tagValues()).toEqual({ project: 'livecast', stage: name });
    }
    // Resources carry them too (what Cost Explorer groups by).
    const eventsTable = tableOf(s, 'Events');
    expect(eventsTable.Properties.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'project', Value: 'livecast' },
        { Key: 'stage', Value: name },
      ]),
    );
  });

  it.each([['dev'], ['prod']] as const)(
    "%s: every function gets the stage as %s (the metrics' stage dimension)",
    (name) => {
      const s = name === 'dev' ? dev : prod;
      const fns = resources(s.api, 'AWS::Lambda::Function').filter(
        ([id]) => !id.startsWith('CustomCDKBucketDeployment'),
      );
      expect(fns.length).toBe(Object.keys(s.api.functions).length);
      for (const [id, fn] of fns) expect(fn.Properties.Environment.Variables[STAGE_ENV], id).toBe(name);
    },
  );
});

describe('prod keeps the record; dev can be thrown away', () => {
  const durable = tables.filter((t) => t.durable).map((t) => t.id);
  const working = tables.filter((t) => !t.durable).map((t) => t.id);

  it('prod: durable tables retained and deletion-protected; working tables neither', () => {
    expect(durable.length).toBeGreaterThan(0);
    for (const id of durable) {
      const t = tableOf(prod, id);
      expect(t.DeletionPolicy, id).toBe('Retain');
      expect(t.UpdateReplacePolicy, id).toBe('Retain');
      expect(t.Properties.DeletionProtectionEnabled, id).toBe(true);
    }
    for (const id of working) {
      const t = tableOf(prod, id);
      expect(t.DeletionPolicy, id).toBe('Delete');
      expect(t.Properties.DeletionProtectionEnabled, id).toBe(false);
    }
  });

  it('dev: every table deleted with the stack, none protected', () => {
    for (const { id } of tables) {
      const t = tableOf(dev, id);
      expect(t.DeletionPolicy, id).toBe('Delete');
      expect(t.Properties.DeletionProtectionEnabled, id).toBe(false);
    }
  });

  it('prod retains the admin key, the viewer id key, the failure queues and every log group; dev deletes them', () => {
    const policies = (s: LivecastStacks, stack: Stack, type: string) =>
      resources(stack, type).map(([, r]) => r.DeletionPolicy as string);
    for (const [stack, type, count] of [
      ['data', 'AWS::SecretsManager::Secret', 2],
      ['data', 'AWS::SQS::Queue', 2],
      // One per function, and the two API stages' access logs.
      ['api', 'AWS::Logs::LogGroup', Object.keys(prod.api.functions).length + 2],
    ] as const) {
      expect(policies(prod, prod[stack], type), type).toEqual(Array(count).fill('Retain'));
      expect(policies(dev, dev[stack], type), type).toEqual(Array(count).fill('Delete'));
    }
  });

  it('turns termination protection on for the prod data stack only', () => {
    expect(prod.data.terminationProtection).toBe(true);
    expect(prod.api.terminationProtection).toBe(false);
    expect(prod.web.terminationProtection).toBe(false);
    expect(dev.data.terminationProtection).toBe(false);
  });
});

function nagFindings(app: App): string[] {
  return addNagChecks(app).flatMap((p) =>
    p.validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`)),
  );
}

describe('account and region', () => {
  it('pinned, still pass cdk-nag (the acknowledgements name the literal region and account, as the findings do)', () => {
    expect(nagFindings(prodApp)).toEqual([]);
  });

  it('come from context when given', () => {
    for (const stack of [prod.data, prod.api, prod.web]) {
      expect(stack.account).toBe('123456789012');
      expect(stack.region).toBe('eu-west-1');
    }
  });

  it('are left to the deploy otherwise: the stacks synthesize environment-agnostic', () => {
    for (const stack of [dev.data, dev.api, dev.web]) {
      expect(Token.isUnresolved(stack.account)).toBe(true);
      expect(Token.isUnresolved(stack.region)).toBe(true);
    }
  });

  it("fall back to the CLI's environment, context first", () => {
    const env = { CDK_DEFAULT_ACCOUNT: '210987654321', CDK_DEFAULT_REGION: 'ap-northeast-1' };
    expect(stageConfig(() => undefined, env).env).toEqual({ account: '210987654321', region: 'ap-northeast-1' });
    const ctx: Record<string, string> = { region: 'eu-west-1' };
    expect(stageConfig((k) => ctx[k], env).env).toEqual({ account: '210987654321', region: 'eu-west-1' });
  });

  it.each([
    [{ account: '1234' }, /'account': "1234" is not a 12-digit AWS account id/],
    [{ region: 'Europe' }, /'region': "Europe" is not an AWS region/],
    [{ alarmEmail: 'ops at example' }, /'alarmEmail': "ops at example" is not an email address/],
  ])('refuse a malformed %j', (ctx, message) => {
    expect(() => stageConfig((k) => (ctx as Record<string, string>)[k])).toThrow(message);
  });

  it('warn when prod has no alarm email (synthesis still works offline, for review)', () => {
    const warnings = (stack: Stack) =>
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('without -c alarmEmail'));
    expect(warnings(prod.api)).toHaveLength(1);
    expect(warnings(dev.api)).toHaveLength(0);
    const mailed = build({ stage: 'prod', alarmEmail: 'ops@example.com' });
    expect(warnings(mailed.stacks.api)).toHaveLength(0);
  }, 300_000);

  it('give the functions the pages domain as the site origin of feeds and snapshots, and warn when there is none', () => {
    const envs = (stacks: LivecastStacks) =>
      Object.values(json(stacks.api).Resources as Record<string, Json>)
        .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment)
        .map((r) => r.Properties.Environment.Variables as Record<string, unknown>);
    expect(envs(withDomains).length).toBeGreaterThan(20);
    for (const env of envs(withDomains)) expect(env.LIVECAST_SITE_ORIGIN).toBe('https://www.example.com');
    for (const env of envs(dev)) expect(env.LIVECAST_SITE_ORIGIN).toBeUndefined();
    const warnings = (stack: Stack) =>
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('no -c webDomain'));
    expect(warnings(dev.api)).toHaveLength(1);
    expect(warnings(withDomains.api)).toHaveLength(0);
    // The CDN fetches feeds and snapshots from the API's custom domain when there is one.
    const origins = json(withDomains.web).Resources;
    const dist = Object.values(origins as Record<string, Json>).find(
      (r) => r.Type === 'AWS::CloudFront::Distribution',
    )!;
    expect(dist.Properties.DistributionConfig.Origins.find((o: Json) => o.Id === 'livecast-api').DomainName).toBe(
      'api.example.com',
    );
  });

  it('take the alarm email from context, for the API stack', () => {
    const ctx: Record<string, string> = { stage: 'prod', alarmEmail: 'ops@example.com' };
    expect(stageConfig((k) => ctx[k]).alarmEmail).toBe('ops@example.com');
    expect(stageConfig(() => undefined).alarmEmail).toBeUndefined();
  });
});

describe('custom domains', () => {
  it('are absent unless configured', () => {
    for (const s of [dev, prod]) {
      expect(resources(s.api, 'AWS::ApiGatewayV2::DomainName')).toEqual([]);
      expect(resources(s.api, 'AWS::ApiGatewayV2::ApiMapping')).toEqual([]);
      const [[, cdn]] = resources(s.web, 'AWS::CloudFront::Distribution') as [[string, Json]];
      expect(cdn.Properties.DistributionConfig.Aliases).toBeUndefined();
      expect(cdn.Properties.DistributionConfig.ViewerCertificate).toBeUndefined();
    }
  });

  it("map a regional domain name to each API's stage, on the given certificate, TLS 1.2", () => {
    const { api } = withDomains;
    const domains = resources(api, 'AWS::ApiGatewayV2::DomainName').map(([id, r]) => [id, r.Properties] as const);
    expect(domains.map(([, p]) => p.DomainName).sort()).toEqual(['api.example.com', 'live.example.com']);
    for (const [, p] of domains) {
      expect(p.DomainNameConfigurations).toEqual([
        { CertificateArn: API_CERT, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ]);
    }
    const idOf = (name: string) => domains.find(([, p]) => p.DomainName === name)![0];
    const ref = (c: { node: { defaultChild?: unknown } }) => ({
      Ref: api.getLogicalId(c.node.defaultChild as Parameters<Stack['getLogicalId']>[0]),
    });
    // A stage is named by its literal name, so the mapping must wait for it to exist.
    const mappingResources = resources(api, 'AWS::ApiGatewayV2::ApiMapping').map(([, r]) => r);
    for (const m of mappingResources) expect(m.DependsOn.some((d: string) => /Stage/.test(d))).toBe(true);
    const mappings = mappingResources.map((r) => r.Properties);
    expect(mappings).toHaveLength(2);
    expect(mappings).toContainEqual({
      DomainName: { Ref: idOf('api.example.com') },
      ApiId: ref(api.httpApi),
      Stage: '$default',
    });
    expect(mappings).toContainEqual({
      DomainName: { Ref: idOf('live.example.com') },
      ApiId: ref(api.webSocketApi),
      Stage: 'live',
    });
  });

  it('give the pages an alias on a us-east-1 certificate, and hand them (and their CSP) the API domains only', () => {
    const { web } = withDomains;
    const [[, cdn]] = resources(web, 'AWS::CloudFront::Distribution') as [[string, Json]];
    expect(cdn.Properties.DistributionConfig.Aliases).toEqual(['www.example.com']);
    expect(cdn.Properties.DistributionConfig.ViewerCertificate).toEqual({
      AcmCertificateArn: WEB_CERT,
      MinimumProtocolVersion: 'TLSv1.2_2021',
      SslSupportMethod: 'sni-only',
    });
    const [[, policy]] = resources(web, 'AWS::CloudFront::ResponseHeadersPolicy') as [[string, Json]];
    // A join: the photos' bucket endpoint (last in connect-src) is known only at deploy time.
    const joined: { 'Fn::Join': [string, unknown[]] } =
      policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy;
    const csp = joined['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '${bucket}')).join('');
    expect(csp).toContain("connect-src 'self' https://api.example.com wss://live.example.com https://${bucket};");
    // config.json has no deploy-time value left in it: it is written whole into its asset.
    const pages = resources(web, 'Custom::CDKBucketDeployment')
      .map(([, r]) => r.Properties)
      .find((p) => p.DistributionPaths)!;
    expect(pages.SourceMarkers).toBeUndefined();
    const out = withDomainsApp.synth().directory;
    const configs = readdirSync(out)
      .filter((d) => d.startsWith('asset.') && existsSync(join(out, d, 'config.json')))
      .map((d) => JSON.parse(readFileSync(join(out, d, 'config.json'), 'utf8')) as unknown);
    expect(configs).toEqual([{ apiUrl: 'https://api.example.com/', wsUrl: 'wss://live.example.com' }]);
  });

  it('pass cdk-nag with the custom-domain findings fixed, not acknowledged', () => {
    expect(nagFindings(withDomainsApp)).toEqual([]);
  });

  it.each([
    [
      { httpDomain: 'api.example.com', wsDomain: 'live.example.com' },
      /need all three of 'apiCertificateArn', 'httpDomain' and 'wsDomain'/,
    ],
    [{ apiCertificateArn: API_CERT, httpDomain: 'api.example.com', wsDomain: 'api.example.com' }, /must differ/],
    [
      { apiCertificateArn: API_CERT, httpDomain: 'api.example.com', wsDomain: 'live.example.com', region: 'us-west-2' },
      /certificate is in eu-west-1, the APIs in us-west-2/,
    ],
    [
      { webDomain: 'www.example.com', webCertificateArn: API_CERT },
      /CloudFront accepts certificates from us-east-1 only; this one is in eu-west-1/,
    ],
    [{ webDomain: 'www.example.com' }, /needs both 'webCertificateArn' and 'webDomain'/],
    [
      { webDomain: 'www.example.com', webCertificateArn: 'arn:aws:acm:us-east-1:123:cert' },
      /'webCertificateArn': .* is not an ACM certificate ARN/,
    ],
    [
      { httpDomain: 'https://api.example.com', wsDomain: 'live.example.com', apiCertificateArn: API_CERT },
      /'httpDomain': .* is not a domain name/,
    ],
  ])('refuse a half-given or impossible configuration %j', (ctx, message) => {
    const app = new App({ context: ctx });
    expect(() => buildLivecast(app, { webDir })).toThrow(message);
    expect(app.node.children).toHaveLength(0);
  });
});

describe('references between the stacks', () => {
  it.each([['dev'], ['prod']] as const)(
    '%s: no stack exports or imports anything (an export in use would block a table or stream change)',
    (name) => {
      const s = name === 'dev' ? dev : prod;
      for (const stack of [s.data, s.api, s.web]) {
        const template = json(stack);
        const exported = Object.entries((template.Outputs ?? {}) as Record<string, Json>).filter(([, o]) => o.Export);
        expect(exported.map(([id]) => `${stack.stackName}.${id}`)).toEqual([]);
        expect(JSON.stringify(template)).not.toContain('Fn::ImportValue');
      }
    },
  );

  it("each stream trigger reads its stream ARN as the data stack's output, by name", () => {
    const dataOutputs = json(prod.data).Outputs as Record<string, Json>;
    const mappings = resources(prod.api, 'AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties.EventSourceArn);
    expect(mappings.length).toBe(tables.filter((t) => 'stream' in t && t.stream).length);
    for (const arn of mappings) {
      const read = arn['Fn::GetStackOutput'];
      expect(read.StackName).toBe('Livecast-prod-Data');
      const output = dataOutputs[read.OutputName];
      expect(output.Value['Fn::GetAtt'][1]).toBe('StreamArn');
      expect(output.Export).toBeUndefined();
    }
  });
});
