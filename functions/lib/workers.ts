// Starts delivery workers (asynchronous Lambda invokes): only functions granted `startWorkers` import this.
import { createLambdaClient } from '../../shared/adapters/aws-clients';
import { LambdaWorkerStarter } from '../../shared/adapters/lambda-worker-starter';
import type { WorkerStarter } from '../../shared/domain/ports';
import { traced } from '../../shared/observability/telemetry';
import { part } from './container';

const starter = part((c) => {
  if (!c.config.workerFunction) throw new Error('LIVECAST_WORKER_FUNCTION is not set');
  return new LambdaWorkerStarter(traced(createLambdaClient(c.config)), c.config.workerFunction);
});

// The client is made at the first start, not when a handler picks up `workers()`: a misconfigured
// function fails the call that needs it.
export const workers = part((): WorkerStarter => ({ start: (eventId, shard) => starter().start(eventId, shard) }));
