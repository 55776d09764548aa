/** The one way the three job-creating routes answer: through the caller's Idempotency-Key when there is one. */
import type { Request, Response } from 'express';
import type { PrintJob } from '../../jobs/job-service';
import { callerLabel, callerOf } from '../api-keys';
import { HttpError } from '../errors';
import {
  IDEMPOTENCY_FIELD,
  IDEMPOTENCY_HEADER,
  parseIdempotencyKey,
  REPLAYED_HEADER,
  requestHash,
} from '../idempotency';
import { accepted } from '../responses';
import type { RouteContext } from './context';

/** The header, or for a form (which cannot set headers) its hidden `idempotencyKey` field. */
function keyOf(req: Request): unknown {
  const header = req.headers[IDEMPOTENCY_HEADER.toLowerCase()];
  if (header !== undefined) return header;
  if (req.is('application/x-www-form-urlencoded')) {
    const field = (req.body as Record<string, unknown> | undefined)?.[IDEMPOTENCY_FIELD];
    return field === '' ? undefined : field;
  }
  return undefined;
}

/**
 * Creates the job with `create` (given who asks, for the job's `createdBy`) unless the caller's key
 * already made it; `body` is the validated request that the key is bound to.
 */
export async function createOnce(
  ctx: RouteContext,
  req: Request,
  res: Response,
  request: { body: Record<string, unknown>; keyField: string },
  create: (createdBy: string) => Promise<PrintJob>,
): Promise<void> {
  const { body, keyField } = request;
  const checked = parseIdempotencyKey(keyOf(req));
  if (!checked.ok)
    throw new HttpError(
      400,
      checked.error,
      { field: IDEMPOTENCY_HEADER },
      'Le formulaire n’est plus valable : rechargez la page.',
    );
  const caller = callerLabel(callerOf(res));
  const outcome = await ctx.idempotency.once(
    caller,
    checked.key,
    requestHash(req.method, req.path, body),
    () => create(caller),
    (id) => ctx.jobs.get(id),
  );
  if (outcome.replayed) res.set(REPLAYED_HEADER, 'true');
  accepted(req, res, outcome.job, outcome.statusCode, keyField);
}
