// The deployment stages (dev, prod) and everything that differs between them, in one typed table, plus
// what `cdk synth|deploy -c key=value` may add: account, region, alarm email, custom domains.
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { parseFrameAncestors } from '../shared/config';

export const STAGE_NAMES = ['dev', 'prod'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/**
 * A bare `cdk deploy` builds dev: production is only ever touched by a command that says so.
 */
export const DEFAULT_STAGE: StageName = 'dev';

export interface StageSettings {
  /** The event's record: durable tables (shared/tables.ts `durable`), the two secrets, the failure queues. */
  readonly durableRemoval: RemovalPolicy;
  /** Working state (connections, leases, rate-limit windows): rebuilt by reconnecting clients. */
  readonly workingRemoval: RemovalPolicy;
  /** Every CloudWatch log group of the stage. */
  readonly logRemoval: RemovalPolicy;
  /** DynamoDB deletion protection on the durable tables: a DeleteTable, by anyone, is refused. */
  readonly deletionProtection: boolean;
  /** CloudFormation termination protection on the data stack: `cdk destroy` and DeleteStack are refused. */
  readonly terminationProtection: boolean;
  /** Where the stage's alarms go (`-c alarmEmail=…` overrides). */
  readonly alarmEmail?: string;
  /**
   * The sites that may frame `/embed/{eventId}` (CSP frame-ancestors sources, e.g.
   * `https://www.example.org`); `-c embedAncestors='https://a.example https://b.example'` overrides.
   * @default `'self'`
   */
  readonly embedAncestors?: readonly string[];
}

export const STAGES: Readonly<Record<StageName, StageSettings>> = {
  // A throwaway: `cdk destroy --all` leaves nothing behind.
  dev: {
    durableRemoval: RemovalPolicy.DESTROY,
    workingRemoval: RemovalPolicy.DESTROY,
    logRemoval: RemovalPolicy.DESTROY,
    deletionProtection: false,
    terminationProtection: false,
  },
  // The record of real events: nothing durable goes with a stack or a mistaken command.
  prod: {
    durableRemoval: RemovalPolicy.RETAIN,
    workingRemoval: RemovalPolicy.DESTROY,
    logRemoval: RemovalPolicy.RETAIN,
    deletionProtection: true,
    terminationProtection: true,
  },
};

/** A regional custom domain for each API, on one ACM certificate in the stacks' region. */
export interface ApiDomains {
  readonly certificateArn: string;
  /** e.g. api.example.com → the HTTP API's $default stage. */
  readonly httpDomain: string;
  /** e.g. live.example.com → the WebSocket API's stage (wss://live.example.com). */
  readonly wsDomain: string;
}

/** The pages' alias on CloudFront; its certificate must be in us-east-1 (CloudFront reads certificates only there). */
export interface WebDomain {
  readonly certificateArn: string;
  readonly domain: string;
}

export interface StageConfig {
  readonly name: StageName;
  readonly settings: StageSettings;
  /** Undefined fields: environment-agnostic (the CLI's credentials decide at deploy time). */
  readonly env: { readonly account?: string; readonly region?: string };
  readonly alarmEmail?: string;
  readonly apiDomains?: ApiDomains;
  readonly webDomain?: WebDomain;
  /** CSP frame-ancestors of the embed: checked sources, `'self'` when none is set. */
  readonly embedAncestors: readonly string[];
}

/** The context keys read here (`-c key=value` or cdk.json "context"). */
export const CONTEXT_KEYS = [
  'stage',
  'account',
  'region',
  'alarmEmail',
  'apiCertificateArn',
  'httpDomain',
  'wsDomain',
  'webCertificateArn',
  'webDomain',
  'embedAncestors',
] as const;
type ContextKey = (typeof CONTEXT_KEYS)[number];

const HOSTNAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;
const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):certificate\/[0-9a-f-]{36}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const ACCOUNT = /^\d{12}$/;
// Deliberately loose: SNS sends a confirmation mail, which is the real check.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Reads the stage and its options from `context` (CDK context: `-c` flags and cdk.json) and, for
 * account and region only, falls back to `environment` (CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION, which
 * the CLI sets from its credentials). Anything malformed or half-given is refused with the key to fix.
 */
export function stageConfig(
  context: (key: ContextKey) => unknown,
  environment: Readonly<Record<string, string | undefined>> = {},
): StageConfig {
  const read = (key: ContextKey): string | undefined => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`context '${key}': expected a string, got ${JSON.stringify(value)}`);
    return value.trim();
  };
  const checked = (key: ContextKey, value: string | undefined, pattern: RegExp, what: string): string | undefined => {
    if (value !== undefined && !pattern.test(value))
      throw new Error(`context '${key}': ${JSON.stringify(value)} is not ${what}`);
    return value;
  };

  const stage = read('stage') ?? DEFAULT_STAGE;
  if (!(STAGE_NAMES as readonly string[]).includes(stage)) {
    throw new Error(
      `unknown stage ${JSON.stringify(stage)}: expected one of ${STAGE_NAMES.join(', ')} (cdk deploy -c stage=${STAGE_NAMES.join('|')})`,
    );
  }
  const name = stage as StageName;
  const settings = STAGES[name];

  const account = checked(
    'account',
    read('account') ?? environment.CDK_DEFAULT_ACCOUNT,
    ACCOUNT,
    'a 12-digit AWS account id',
  );
  const region = checked(
    'region',
    read('region') ?? environment.CDK_DEFAULT_REGION,
    REGION,
    'an AWS region such as eu-west-1',
  );
  const alarmEmail = checked('alarmEmail', read('alarmEmail') ?? settings.alarmEmail, EMAIL, 'an email address');

  const certificate = (key: 'apiCertificateArn' | 'webCertificateArn') => {
    const arn = checked(
      key,
      read(key),
      CERTIFICATE_ARN,
      'an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)',
    );
    if (arn === undefined) return undefined;
    const [, certRegion, certAccount] = CERTIFICATE_ARN.exec(arn)!;
    return { arn, region: certRegion!, account: certAccount! };
  };
  const host = (key: 'httpDomain' | 'wsDomain' | 'webDomain') =>
    checked(key, read(key)?.toLowerCase(), HOSTNAME, 'a domain name such as live.example.com');

  const apiCert = certificate('apiCertificateArn');
  const httpDomain = host('httpDomain');
  const wsDomain = host('wsDomain');
  let apiDomains: ApiDomains | undefined;
  if (apiCert || httpDomain || wsDomain) {
    if (!apiCert || !httpDomain || !wsDomain) {
      throw new Error(
        "custom API domains need all three of 'apiCertificateArn', 'httpDomain' and 'wsDomain' (or none)",
      );
    }
    if (httpDomain === wsDomain)
      throw new Error("'httpDomain' and 'wsDomain' must differ: one domain name maps to one API");
    // API Gateway's regional domain names take a certificate from their own region only.
    if (region !== undefined && apiCert.region !== region) {
      throw new Error(
        `context 'apiCertificateArn': the certificate is in ${apiCert.region}, the APIs in ${region}; a regional API domain needs a certificate of its own region`,
      );
    }
    if (account !== undefined && apiCert.account !== account) {
      throw new Error(
        `context 'apiCertificateArn': the certificate belongs to account ${apiCert.account}, the stacks to ${account}`,
      );
    }
    apiDomains = { certificateArn: apiCert.arn, httpDomain, wsDomain };
  }

  const webCert = certificate('webCertificateArn');
  const webDomainName = host('webDomain');
  let webDomain: WebDomain | undefined;
  if (webCert || webDomainName) {
    if (!webCert || !webDomainName)
      throw new Error("a custom pages domain needs both 'webCertificateArn' and 'webDomain' (or neither)");
    // CloudFront is global and reads certificates from us-east-1 only, whatever region the stacks are in.
    if (webCert.region !== 'us-east-1') {
      throw new Error(
        `context 'webCertificateArn': CloudFront accepts certificates from us-east-1 only; this one is in ${webCert.region}`,
      );
    }
    if (account !== undefined && webCert.account !== account) {
      throw new Error(
        `context 'webCertificateArn': the certificate belongs to account ${webCert.account}, the stacks to ${account}`,
      );
    }
    webDomain = { certificateArn: webCert.arn, domain: webDomainName };
  }

  let embedAncestors: string[];
  try {
    embedAncestors = parseFrameAncestors(read('embedAncestors') ?? settings.embedAncestors?.join(' '));
  } catch (err) {
    throw new Error(`context 'embedAncestors': ${(err as Error).message}`, { cause: err });
  }

  return {
    name,
    settings,
    embedAncestors,
    env: { ...(account ? { account } : {}), ...(region ? { region } : {}) },
    ...(alarmEmail ? { alarmEmail } : {}),
    ...(apiDomains ? { apiDomains } : {}),
    ...(webDomain ? { webDomain } : {}),
  };
}

/** `Livecast-prod-Data`: the stage in every stack name, so dev and prod can share an account. */
export function stackName(stage: StageName, part: 'Data' | 'Api' | 'Web'): string {
  return `Livecast-${stage}-${part}`;
}

/**
 * The SSM parameter the Web stack writes the photos' base URL to (`https://<pages domain>`), and the
 * functions that publish photos read: named from the stage alone, so the API stack (deployed before
 * the Web stack) needs no reference to it.
 */
export function imagesBaseUrlParameter(stage: string): string {
  return `/livecast/${stage}/images-base-url`;
}

/**
 * The photos' bucket, named from the stage, account and region: the API stack grants on it by name,
 * without a reference to the Data stack's resource (which cdk-nag could only be told about by a
 * generated output name), and a second stage in the account gets its own.
 */
export function imagesBucketName(scope: IConstruct, stage: string): string {
  // The stack's account and region: literals when the stage is pinned to them, pseudo parameters otherwise.
  const { account, region } = Stack.of(scope);
  return `livecast-${stage}-images-${account}-${region}`;
}
