// What the platform stamps on an invocation: a fake Lambda Context, and the request ids and
// timestamps API Gateway writes into its events, so local events look like deployed ones.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface LambdaContextOptions {
  /** The function's configured timeout; `getRemainingTimeInMillis` counts down from it. */
  readonly timeoutMs?: number;
  readonly memoryLimitInMB?: number;
  readonly region?: string;
}

/** A handler as the stand-ins invoke it: Lambda's (event, context) → result. */
// `any`, not `unknown`: each handler module types its own event, and a handler taking a specific
// event type is not assignable to one taking `unknown`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type Invoke = (event: any, context: Context) => Promise<any>;

const localAccount = '000000000000';

/**
 * A fresh Context for one invocation. Build one per call, as Lambda does: `awsRequestId` and the
 * deadline belong to the invocation, not to the function.
 */
export function lambdaContext(functionName: string, opts: LambdaContextOptions = {}): Context {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const region = opts.region ?? process.env.AWS_REGION ?? 'local';
  const deadline = Date.now() + timeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  // The deprecated callback-era methods are inert: handlers here are async and return results.
  const inert = () => {};
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${localAccount}:function:${functionName}`,
    memoryLimitInMB: String(opts.memoryLimitInMB ?? 1024),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: inert,
    fail: inert,
    succeed: inert,
  };
}

/** API Gateway's request, message and connection ids: 11 random bytes in base64, e.g. `L0SM9cOFvHcCIhw=`. */
export function gatewayId(): string {
  return randomBytes(11).toString('base64');
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `requestTime` / `time` as API Gateway writes it: `09/Apr/2026:12:34:56 +0000` (always UTC). */
export function gatewayTime(epochMs: number): string {
  const d = new Date(epochMs);
  return (
    `${pad(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
  );
}
