// The domain's Logger port on Powertools Logger: JSON lines to stdout (CloudWatch Logs indexes them),
// each carrying what functions/lib/observe.ts adds per invocation (request id, function, cold start,
// eventId, connectionId). An Error anywhere in `data` is written structured: name, message, stack
// and its `cause`, recursively.
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from './domain/ports';
import { POWERTOOLS_LEVEL, telemetry } from './observability/telemetry';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** The port over the process's Powertools Logger, at `level` (the configuration's; the logger was built at it too). */
export function createLogger(level: LogLevel = 'info', logger: PowertoolsLogger = telemetry().logger): Logger {
  logger.setLogLevel(POWERTOOLS_LEVEL[level]);
  return {
    debug: (m, d) => (d ? logger.debug(m, d) : logger.debug(m)),
    info: (m, d) => (d ? logger.info(m, d) : logger.info(m)),
    warn: (m, d) => (d ? logger.warn(m, d) : logger.warn(m)),
    error: (m, d) => (d ? logger.error(m, d) : logger.error(m)),
  };
}
