// Errors a client may see: a protocol code, a plain message, and the HTTP status it maps to.
import type { ErrorCode } from './protocol';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  internal: 500,
};

/** Anything thrown that is not an AppError is an internal fault: its message never reaches a client. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** For `rate_limited`: when the client may try again (ms). Error frames and HTTP bodies carry it. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export const badRequest = (message: string) => new AppError('bad_request', message);
export const notFound = (message: string) => new AppError('not_found', message);
export const forbidden = (message: string) => new AppError('forbidden', message);
export const conflict = (message: string) => new AppError('conflict', message);
export const tooLarge = (message: string) => new AppError('too_large', message);
export const unauthorized = (message: string) => new AppError('unauthorized', message);
export const rateLimited = (message: string, retryAfterMs?: number) =>
  new AppError('rate_limited', message, retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(retryAfterMs)));

export interface PublicError {
  code: ErrorCode;
  message: string;
  status: number;
  retryAfterMs?: number;
}

/** What a client is told about any error: its own code and message for AppErrors, a generic line otherwise. */
export function publicError(err: unknown): PublicError {
  if (err instanceof AppError) {
    return {
      code: err.code,
      message: err.message,
      status: err.status,
      ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
    };
  }
  return { code: 'internal', message: 'something went wrong on our side; please retry', status: 500 };
}
