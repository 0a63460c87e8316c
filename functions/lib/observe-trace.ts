// X-Ray tracing (Powertools Tracer) for the functions infra traces (shared/routes.ts `tracing`):
// imported by those handlers only, so the X-Ray SDK is bundled into them and no other.
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { METRIC_SERVICE } from '../../shared/observability/names';
import { setClientCapture } from '../../shared/observability/telemetry';
import type { Part } from './observe';

let tracer: Tracer | undefined;

/**
 * Built on first use, after the local stage has set its environment. Tracing is on only inside
 * Lambda (AWS_EXECUTION_ENV set) with POWERTOOLS_TRACE_ENABLED not 'false': infra sets it per
 * function, the local stage sets 'false' (no X-Ray daemon there; every call is then a no-op).
 * SDK clients are captured one by one; not every HTTPS request: the worker's raw @connections posts
 * (shared/adapters/signed-poster.ts) would be thousands of subsegments a second.
 */
const theTracer = (): Tracer => (tracer ??= new Tracer({ serviceName: METRIC_SERVICE, captureHTTPsRequests: false }));

// At import, before the handler's first call builds the container and its clients.
setClientCapture((client) => theTracer().captureAWSv3Client(client));

/** The handler's segment (cold start, errors, response) as one of observe()'s parts. */
export function tracing(): () => Part {
  let built: Part | undefined;
  return () => (built ??= captureLambdaHandler(theTracer()));
}
