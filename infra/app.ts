// CDK entry point (cdk.json runs it with tsx).
import { App } from 'aws-cdk-lib';
import { buildLivecast } from './livecast-app';

const app = new App();
buildLivecast(app);
app.synth();
