// Starts one in-memory DynamoDB Local for the whole run; each integration file gets its own tables in it.
import type { TestProject } from 'vitest/node';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDynamoLocal } from '../../local/dynamodb-local';
import { buildWeb } from '../../web/build';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    /** The pages, built once for the run (the browser tests serve them from their stage). */
    webDir: string;
  }
}

export default async function setup(project: TestProject) {
  const webDir = join(mkdtempSync(join(tmpdir(), 'livecast-web-')), 'web');
  buildWeb(webDir);
  project.provide('webDir', webDir);
  const dynamo = await startDynamoLocal({ port: 0 });
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo.stop();
    rmSync(join(webDir, '..'), { recursive: true, force: true });
  };
}
