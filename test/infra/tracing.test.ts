// X-Ray: active on the publish path and the delivery worker, off (and Powertools Tracer told so) everywhere else.
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLivecast } from '../../infra/livecast-app';
import { buildWeb } from '../../web/build';
import { deliveryWorker, wsRoutes } from '../../shared/routes';

let functions: Record<string, any>;

beforeAll(() => {
  const webDir = join(mkdtempSync(join(tmpdir(), 'livecast-tracing-')), 'web');
  buildWeb(webDir);
  const { api } = buildLivecast(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), { webDir });
  functions = Template.fromStack(api).findResources('AWS::Lambda::Function');
}, 120_000);

it('traces exactly publish and the delivery worker, and tells Powertools Tracer which it is', () => {
  const traced = Object.entries(functions)
    .filter(([, f]) => f.Properties.TracingConfig?.Mode === 'Active')
    .map(([id]) => id)
    .sort();
  const publish = wsRoutes.find((r) => r.routeKey === 'publish')!;
  expect(traced).toHaveLength(2);
  expect(traced.map((id) => id.replace(/Function[0-9A-F]{8}$/, ''))).toEqual([deliveryWorker.id, publish.id].sort());
  for (const [id, f] of Object.entries(functions)) {
    expect(f.Properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED, id).toBe(
      traced.includes(id) ? 'true' : 'false',
    );
  }
}, 120_000);
