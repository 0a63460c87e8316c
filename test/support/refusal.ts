// The AppError a promise rejects with (and a failed expectation if it resolves or throws anything else).
import { expect } from 'vitest';
import { AppError } from '../../shared/domain/errors';

export async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}
