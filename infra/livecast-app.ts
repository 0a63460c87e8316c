// Assembles the livecast stacks of one stage into an app; shared by the CDK entry point and the assertion tests.
import { Annotations, CrossStackReferences, ReferenceStrength, RemovalPolicies, Tags, type App } from 'aws-cdk-lib';
import { ApiDomains } from './api-domains';
import { StatefulStack } from './stateful-stack';
import { StatelessStack } from './stateless-stack';
import { stackName, stageConfig, type StageConfig } from './stages';
import { WebStack } from './web-stack';

export interface LivecastStacks {
  readonly data: StatefulStack;
  readonly api: StatelessStack;
  readonly web: WebStack;
  readonly stage: StageConfig;
  /** Present when the stage's context names API domains. */
  readonly apiDomains?: ApiDomains;
}

export interface LivecastOptions {
  /** The pages, already built there (`buildWeb`). */
  readonly webDir: string;
  /**
   * The stage to build. Default: read from the app's context alone (`stage`, domains…), without the
   * process environment, so a test's synthesis does not depend on the shell it runs in.
   */
  readonly stage?: StageConfig;
}

export function buildLivecast(app: App, opts: LivecastOptions): LivecastStacks {
  const stage = opts.stage ?? stageConfig((key) => app.node.tryGetContext(key));
  const { settings } = stage;
  // Account and region only where given: otherwise the stacks stay environment-agnostic and deploy
  // wherever the CLI's credentials point (and synthesize offline with neither).
  const env = stage.env.account || stage.env.region ? { env: stage.env } : {};

  // Weak references (Fn::GetStackOutput) between the stacks, never CloudFormation exports: an export
  // cannot change while another stack imports it, so replacing a table or changing its stream (a new
  // stream ARN) used to fail the data stack's deploy with "export … in use". What the exports guarded
  // (a table or key deleted under the API) is guarded in prod by deletion protection, retention and
  // termination protection instead. docs/architecture.md "Deploying" has the procedure.
  CrossStackReferences.of(app).consume(ReferenceStrength.WEAK);

  const data = new StatefulStack(app, stackName(stage.name, 'Data'), {
    ...env,
    description: `livecast ${stage.name}: tables, the organiser admin key and the failure queues`,
    terminationProtection: settings.terminationProtection,
    stage: settings,
    stageName: stage.name,
    ...(stage.webDomain ? { pagesOrigin: `https://${stage.webDomain.domain}` } : {}),
  });
  const api = new StatelessStack(app, stackName(stage.name, 'Api'), {
    ...env,
    description: `livecast ${stage.name}: APIs and functions`,
    tables: data.tables,
    adminKey: data.adminKey,
    viewerSecret: data.viewerSecret,
    failureQueues: data.failureQueues,
    stage: stage.name,
    ...(stage.alarmEmail ? { alarmEmail: stage.alarmEmail } : {}),
    // Where feeds and snapshots link to. The CloudFront domain is not known before the web stack,
    // which itself needs this stack's URLs; with no pages domain, links use the request's origin.
    ...(stage.webDomain ? { siteOrigin: `https://${stage.webDomain.domain}` } : {}),
  });
  if (!stage.webDomain) {
    Annotations.of(api).addWarningV2(
      'livecast:noSiteOrigin',
      'no -c webDomain: feeds and snapshots read through CloudFront link entries to the API host, not the pages (docs/architecture.md "Crawlers and feeds")',
    );
  }
  if (stage.name === 'prod' && !stage.alarmEmail) {
    // Not an error: `cdk synth -c stage=prod` must work offline for review. But say it on every deploy.
    Annotations.of(api).addWarningV2(
      'livecast:prodWithoutAlarmEmail',
      'stage prod without -c alarmEmail=…: the alarms will mail nobody',
    );
  }
  const apiDomains = stage.apiDomains
    ? new ApiDomains(api, 'Domains', {
        config: stage.apiDomains,
        httpApi: api.httpApi,
        httpStage: api.httpStage,
        webSocketApi: api.webSocketApi,
        webSocketStage: api.webSocketStage,
      })
    : undefined;
  const web = new WebStack(app, stackName(stage.name, 'Web'), {
    ...env,
    description: `livecast ${stage.name}: pages, S3 behind CloudFront`,
    webDir: opts.webDir,
    // With custom domains, the pages are handed those, and may connect to those only.
    apiUrl: apiDomains?.httpUrl ?? api.httpStage.url,
    wsUrl: apiDomains?.wsUrl ?? api.webSocketStage.url,
    apiOrigins: apiDomains ? [apiDomains.httpOrigin, apiDomains.wsOrigin] : [api.httpOrigin, api.wsOrigin],
    ...(stage.webDomain ? { domain: stage.webDomain } : {}),
    images: data.images,
    stage: stage.name,
    apiHost: stage.apiDomains?.httpDomain ?? api.httpHost,
    embedAncestors: stage.embedAncestors,
  });

  for (const stack of [data, api, web]) {
    // Cost Explorer and the console group by these (activate them as cost allocation tags once per account).
    Tags.of(stack).add('project', 'livecast');
    Tags.of(stack).add('stage', stage.name);
  }
  // Every log group of the stage, the functions' and any added later (access logs), at the stage's policy.
  for (const stack of [api, web]) {
    RemovalPolicies.of(stack).apply(settings.logRemoval, { applyToResourceTypes: ['AWS::Logs::LogGroup'] });
  }
  return { data, api, web, stage, ...(apiDomains ? { apiDomains } : {}) };
}
