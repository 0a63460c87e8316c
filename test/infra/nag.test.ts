// cdk-nag (AwsSolutions and Serverless packs) over the three stacks: nothing left unacknowledged.
import { App, Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import type { NagPack } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLivecast } from '../../infra/livecast-app';
import { addNagChecks } from '../../infra/nag';
import { buildWeb } from '../../web/build';

let app: App;
let packs: readonly NagPack[];

beforeAll(() => {
  const webDir = join(mkdtempSync(join(tmpdir(), 'livecast-nag-')), 'web');
  buildWeb(webDir);
  // Bundling skipped as in stacks.test.ts: the rules read the templates, not the function code.
  app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    outdir: mkdtempSync(join(tmpdir(), 'livecast-nag-out-')),
  });
  buildLivecast(app, { webDir });
  packs = addNagChecks(app);
}, 120_000);

describe('cdk-nag', () => {
  it('runs both packs', () => {
    expect(packs.map((p) => p.readPackName)).toEqual(['AwsSolutions', 'Serverless']);
  });

  it.each(['AwsSolutions', 'Serverless'])('%s: no unacknowledged error or warning', (name) => {
    const pack = packs.find((p) => p.readPackName === name)!;
    const report = pack.validateScope(app);
    // One line per finding and resource, so a failure says what to fix or acknowledge, and where.
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} ${r.constructPath}: ${v.description}`),
    );
    expect(findings).toEqual([]);
  });

  it('synthesizes with the packs registered as validation plugins (what `cdk synth` runs)', () => {
    expect(() => app.synth()).not.toThrow();
  }, 120_000);

  it('a finding nobody acknowledged fails synthesis', () => {
    // The wiring check: were the plugins not registered, this would synthesize.
    const bad = new App({ outdir: mkdtempSync(join(tmpdir(), 'livecast-nag-bad-')) });
    addNagChecks(bad);
    new Queue(new Stack(bad, 'Bad'), 'Plain');
    expect(() => bad.synth()).toThrow(/AwsSolutions-SQS4/);
  });
});
