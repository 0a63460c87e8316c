// The process's Powertools Logger and Metrics: one of each per Lambda environment, built on first use
// (not at import), so the local stage's environment, set after it imports the handlers, is the one
// they read. The Tracer lives in functions/lib/observe-trace.ts, imported only by the traced
// functions: the X-Ray SDK it brings (~0.2 MB) stays out of every other bundle.
import { appendFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { loadLogLevel } from '../config';
import { METRIC_NAMESPACE, METRIC_SERVICE, STAGE_ENV } from './names';

/**
 * Where the local stage wants the EMF lines (one JSON object a line), instead of stdout: a test reads
 * them there, and a test run's output stays quiet. Unset (on AWS): stdout, which CloudWatch Logs
 * turns into metrics.
 */
export const METRICS_FILE_ENV = 'LIVECAST_METRICS_FILE';

export const POWERTOOLS_LEVEL = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  silent: 'SILENT',
} as const;

export interface Telemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

let current: Telemetry | undefined;

export function telemetry(env: NodeJS.ProcessEnv = process.env): Telemetry {
  if (current) return current;
  const stage = env[STAGE_ENV] || 'local';
  // The configured level at construction: Powertools resets to it at every invocation (its debug sampling).
  const logger = new Logger({
    serviceName: METRIC_SERVICE,
    logLevel: POWERTOOLS_LEVEL[loadLogLevel(env)],
    persistentKeys: { stage },
  });
  const metrics = new Metrics({
    namespace: METRIC_NAMESPACE,
    serviceName: METRIC_SERVICE,
    defaultDimensions: { stage },
    // Its warnings (an invalid value, …) as our log lines, at our level, not bare console output;
    // but not "no metrics to publish": an invocation that refused a frame has none, and that is fine.
    logger: {
      debug: say(logger, 'debug'),
      info: say(logger, 'info'),
      warn: (msg: unknown, ...rest: unknown[]) =>
        String(msg).startsWith('No application metrics') ? undefined : say(logger, 'warn')(msg, ...rest),
      error: say(logger, 'error'),
    },
  });
  const file = env[METRICS_FILE_ENV];
  if (file) {
    redirect(metrics, (line) => {
      // A metrics line is never worth failing an invocation (on AWS stdout cannot fail): one that
      // cannot be written (the stage gone meanwhile) is logged and dropped.
      try {
        appendFileSync(file, line + '\n');
      } catch (err) {
        logger.warn('metrics line not written', { file, error: err });
      }
    });
  }
  current = { logger, metrics };
  return current;
}

const say =
  (logger: Logger, level: 'debug' | 'info' | 'warn' | 'error') =>
  (msg: unknown, ...rest: unknown[]): void =>
    rest.length > 0 ? logger[level](String(msg), { detail: rest }) : logger[level](String(msg));

type Capture = <T>(client: T) => T;
let capture: Capture | undefined;

/** A traced function's module registers how its SDK clients are captured (before any is built). */
export function setClientCapture(fn: Capture): void {
  capture = fn;
}

/** An AWS SDK v3 client whose calls are subsegments of the invocation's trace, in a traced function (else the client as it is). */
export const traced = <T>(client: T): T => (capture ? capture(client) : client);

/** For the local stage and tests: the next use builds them anew from the environment. */
export function resetTelemetry(): void {
  current = undefined;
}

/**
 * Powertools Metrics prints through a private Console of its own (2.35 has no option for another
 * destination); the local stage swaps its `log` for a file. Checked, so an upgrade that renames the
 * field fails the stage's metrics test instead of printing EMF into test output.
 */
function redirect(metrics: Metrics, write: (line: string) => void): void {
  const holder = metrics as unknown as { console?: { log: (line: string) => void } };
  if (typeof holder.console?.log !== 'function')
    throw new Error('Powertools Metrics has no console to redirect: check the version');
  holder.console = { ...holder.console, log: (line: string) => write(String(line)) };
}
