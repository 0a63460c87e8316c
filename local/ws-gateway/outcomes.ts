// The management API's answers, in the shapes the SDK's restJson1 parser reads.
import { maxMessageBytes } from './types';

export interface Outcome {
  readonly status: number;
  readonly errorType?: string;
  readonly body?: string;
}

export const emptyBuffer = Buffer.alloc(0);
export const ok: Outcome = { status: 200 };
export const deleted: Outcome = { status: 204 };
export const gone: Outcome = {
  status: 410,
  errorType: 'GoneException',
  body: '{"message":"The connection is gone."}',
};
export const throttled: Outcome = {
  status: 429,
  errorType: 'LimitExceededException',
  body: '{"message":"Rate exceeded"}',
};
export const tooLarge: Outcome = {
  status: 413,
  errorType: 'PayloadTooLargeException',
  body: `{"message":"Message too long: the limit is ${maxMessageBytes} bytes."}`,
};
