/** The one way the three job-creating routes answer: through the caller's Idempotency-Key when there is one. */
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { PrintJob } from '../../jobs/job-service';
import { callerLabel, callerOf } from './api-keys';
import { HttpError } from '../guards/errors';
import { bodyKind } from '../guards/request-kind';
import { Job } from './api-schemas';
import { FORM_TOKEN_FIELD, FORM_TOKEN_HEADER } from '../guards/cross-site';
import {
  IDEMPOTENCY_FIELD,
  IDEMPOTENCY_HEADER,
  IdempotencyKey,
  parseIdempotencyKey,
  REPLAYED_HEADER,
  requestHash,
} from './idempotency';
import { type ApiResponse, errorResponse, type StatusKey } from './openapi';
import type { RouteContext } from './context';

/** The header, or for a form (which cannot set headers) its hidden `idempotencyKey` field. */
function keyOf(req: Request): unknown {
  const header = req.headers[IDEMPOTENCY_HEADER.toLowerCase()];
  if (header !== undefined) return header;
  if (bodyKind(req) === 'form') {
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
  // Without a key nothing is compared: the request's hash (a SHA-256) is made only when there is one.
  const outcome = await ctx.idempotency.once(
    caller,
    checked.key,
    checked.key === null ? '' : requestHash(req.method, req.path, body),
    () => create(caller),
    (id) => ctx.jobs.queries.get(id),
  );
  if (outcome.replayed) res.set(REPLAYED_HEADER, 'true');
  ctx.answerCreated(req, res, outcome.job, outcome.statusCode, keyField);
}

// ---- how GET /openapi.json describes the three job-creating routes ----

/** The request headers of a job-creating route. */
export const CreationHeaders = z.object({
  [IDEMPOTENCY_HEADER]: IdempotencyKey.optional(),
  [FORM_TOKEN_HEADER]: z
    .string()
    .optional()
    .meta({ description: 'The page’s form token, for browser requests (htmx); API clients send none' }),
});

/** The fields the page's forms add to what they send (a form cannot set headers). */
export const PageFormFields = {
  [IDEMPOTENCY_FIELD]: z
    .string()
    .optional()
    .meta({ description: `The page's form carries its ${IDEMPOTENCY_HEADER} here; an empty field is none` }),
  [FORM_TOKEN_FIELD]: z.string().optional().meta({ description: 'The page’s form token (browser requests)' }),
};

/** The body of a job-creating route that takes no input (reprint, test print): API clients send nothing. */
export const NoInputBody = {
  required: false,
  description: 'Nothing from API clients (an empty JSON object at most); the page’s forms send their hidden fields',
  json: z.object({}),
  form: z.object(PageFormFields),
};

/** The answers of a job-creating route (createOnce, the cross-site check, the rate limit). */
export function creationResponses(): Partial<Record<StatusKey, ApiResponse>> {
  return {
    201: {
      description: `The job, stored and on its way to the printer (a replay of the same ${IDEMPOTENCY_HEADER} gives the same job); htmx: its confirmation`,
      json: Job,
      html: true,
      headers: {
        Location: { description: 'The job: /jobs/{id}', required: true },
        [REPLAYED_HEADER]: {
          description: `\`true\` when this answer replays the job an earlier request with this ${IDEMPOTENCY_HEADER} made`,
          schema: z.literal('true'),
        },
      },
    },
    303: {
      description: 'A form posted without JavaScript: back to the page, which shows the job (`/?sent={id}`)',
      headers: { Location: { description: 'The page', required: true } },
    },
    400: errorResponse(`The request is invalid (the field says which), or ${IDEMPOTENCY_HEADER} is malformed`, {
      html: true,
    }),
    403: errorResponse('A browser request from another site, or without the page’s form token', { html: true }),
    409: errorResponse(`A request with this ${IDEMPOTENCY_HEADER} is still being processed`, { html: true }),
    410: errorResponse(`The job this ${IDEMPOTENCY_HEADER} created has been deleted`, { html: true }),
    422: errorResponse(`This ${IDEMPOTENCY_HEADER} was already used for a different request`, { html: true }),
    429: errorResponse(
      'Too many jobs: from this address (PRINT_RATE_PER_MINUTE, PRINT_RATE_BURST) or with this API key (API_KEY_RATE_PER_MINUTE)',
      { html: true, retryAfter: true },
    ),
    503: errorResponse(
      'The server cannot store jobs right now (its disk is full or read-only): nothing was stored; try again after Retry-After',
      { html: true, retryAfter: true },
    ),
  };
}
