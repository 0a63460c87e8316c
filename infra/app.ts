// CDK entry point (cdk.json runs it with tsx).
import { App } from 'aws-cdk-lib';
import { buildWeb, DEFAULT_WEB_OUT } from '../web/build';
import { buildLivecast } from './livecast-app';
import { addNagChecks } from './nag';

const app = new App();
// The pages are bundled here, as the functions are by their constructs: `cdk synth` alone is enough.
buildWeb(DEFAULT_WEB_OUT);
buildLivecast(app, { webDir: DEFAULT_WEB_OUT });
// A finding nobody acknowledged (with a reason) stops the synthesis, and so the deploy.
addNagChecks(app);
app.synth();
