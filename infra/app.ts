// CDK entry point (cdk.json runs it with tsx). `-c stage=dev|prod` and the other keys: infra/stages.ts.
import { App } from 'aws-cdk-lib';
import { buildWeb, DEFAULT_WEB_OUT } from '../web/build';
import { buildLivecast } from './livecast-app';
import { addNagChecks } from './nag';
import { type StageConfig, stageConfig } from './stages';

const app = new App();
// Read before anything is built: an unknown stage or a malformed key stops here, with the key to fix.
let stage: StageConfig;
try {
  stage = stageConfig((key) => app.node.tryGetContext(key), process.env);
} catch (err) {
  // The message names the key to fix; a stack trace would only bury it.
  console.error(`livecast: ${(err as Error).message}`);
  process.exit(1);
}
// The pages are bundled here, as the functions are by their constructs: `cdk synth` alone is enough.
buildWeb(DEFAULT_WEB_OUT);
buildLivecast(app, { webDir: DEFAULT_WEB_OUT, stage });
// A finding nobody acknowledged (with a reason) stops the synthesis, and so the deploy.
addNagChecks(app);
app.synth();
