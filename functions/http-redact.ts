// POST /events/{eventId}/entries/{seq}/redact: the organiser removes an entry's text from storage
// everywhere (entry, change log, so every export), e.g. a phone number posted by mistake.
import middy from '@middy/core';
import * as z from 'zod';
import { badRequest } from '../shared/domain/errors';
import { adminKey } from './lib/admin-key';
import { container } from './lib/container';
import { type HttpEvent, type HttpResult, json, pathParam, requireAdmin } from './lib/http';
import { httpErrors } from './lib/middleware';
import { observe } from './lib/observe';

/** Digits only: "1e3", " 7", "0x10" or "1.0" are not how a seq is written, though Number() would take them. */
const seqParam = z
  .string()
  .regex(/^[1-9][0-9]{0,14}$/)
  .transform(Number);

async function main(event: HttpEvent): Promise<HttpResult> {
  const { events } = container();
  // The key before anything else: without it a caller learns nothing, not even whether the seq is valid.
  requireAdmin(event, await adminKey().get());
  const eventId = pathParam(event, 'eventId');
  const raw = pathParam(event, 'seq');
  const seq = seqParam.safeParse(raw);
  if (!seq.success) throw badRequest(`seq must be a positive whole number (1, 2, 3 …), not ${JSON.stringify(raw)}`);
  return json(200, { entry: await events.redact(eventId, seq.data) });
}

export const handler = middy(main).use(observe()).use(httpErrors());
