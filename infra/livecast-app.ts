// Assembles the livecast stacks into an app; shared by the CDK entry point and the assertion tests.
import { CrossStackReferences, ReferenceStrength, type App } from 'aws-cdk-lib';
import { StatefulStack } from './stateful-stack';
import { StatelessStack } from './stateless-stack';
import { WebStack } from './web-stack';

export interface LivecastStacks {
  readonly data: StatefulStack;
  readonly api: StatelessStack;
  readonly web: WebStack;
}

export interface LivecastOptions {
  /** The pages, already built there (`buildWeb`). */
  readonly webDir: string;
}

// No `env`: the stacks stay account- and region-agnostic and deploy wherever the CLI's credentials point.
export function buildLivecast(app: App, opts: LivecastOptions): LivecastStacks {
  // Export/import on purpose: CloudFormation then refuses to drop a table or the key while the API uses it.
  CrossStackReferences.of(app).consume(ReferenceStrength.STRONG);
  const data = new StatefulStack(app, 'Livecast-Data', {
    description: 'livecast stateful resources: tables, the organiser admin key and the failure queues',
  });
  const api = new StatelessStack(app, 'Livecast-Api', {
    description: 'livecast APIs and functions',
    tables: data.tables,
    adminKey: data.adminKey,
    viewerSecret: data.viewerSecret,
    failureQueues: data.failureQueues,
  });
  const web = new WebStack(app, 'Livecast-Web', {
    description: 'livecast pages: S3 behind CloudFront',
    webDir: opts.webDir,
    apiUrl: api.httpStage.url,
    wsUrl: api.webSocketStage.url,
    apiOrigins: [api.httpOrigin, api.wsOrigin],
  });
  return { data, api, web };
}
