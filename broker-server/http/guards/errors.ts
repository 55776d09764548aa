/** The HTTP errors and the one handler: expected errors say what is wrong; unexpected ones are logged and hidden. */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../../runtime/logger';
import { JobError, type JobErrorKind } from '../../jobs/job-errors';
import type { StorageHealth } from '../../store/storage-health';
import { isHtmx, isPlainForm } from './request-kind';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** What the French page shows instead of the API's English message. */
    readonly messageFr?: string,
  ) {
    super(message);
  }
}

/** The one place a job's refusal becomes an HTTP status. */
const JOB_ERROR_STATUS: Record<JobErrorKind, number> = {
  'job-not-found': 404,
  'not-reprintable': 409,
  'unknown-printer': 422,
  'receipt-too-long': 400,
};

/** What the page shows for a refusal (http/page/error-text.ts): the text, and the fragment htmx swaps in. */
export interface PageErrors {
  /** `storageFull`: the server's disk refused the job. */
  message(err: unknown, status: number, storageFull: boolean): string;
  fragment(message: string): string;
}

export interface ErrorHandlerOptions {
  bodyLimitBytes: number;
  /** The page with the error shown, for a form posted without JavaScript. */
  renderPage: (state: { error: string; content: string; printerId: string | undefined }) => Promise<string>;
  page: PageErrors;
  log: Logger;
  /** The server's own disk: a write it refused is a 503 with Retry-After, logged once per episode there. */
  storage?: Pick<StorageHealth, 'failed' | 'retryAfterS'>;
}

export function errorHandler(options: ErrorHandlerOptions) {
  return async (err: unknown, req: Request, res: Response, _next: NextFunction): Promise<void> => {
    const storageFull = options.storage?.failed(err) ?? false;
    const retryAfterS = options.storage?.retryAfterS ?? 30;
    const { status, message, details } = storageFull
      ? {
          status: 503,
          message: `the server cannot store jobs right now (its disk is full or read-only); nothing was stored, try again in ${retryAfterS} s`,
          details: { retryAfterSeconds: retryAfterS },
        }
      : toHttpError(err, options.bodyLimitBytes);
    if (storageFull) res.set('Retry-After', String(retryAfterS));
    if (storageFull) options.log.debug({ method: req.method, path: req.path }, 'request refused: storage full');
    else if (status >= 500) options.log.error({ err, method: req.method, path: req.path }, 'request failed');
    else options.log.debug({ status, method: req.method, path: req.path, error: message }, 'request refused');
    if (res.headersSent) return;
    if (isHtmx(req)) {
      res
        .status(status)
        .type('html')
        .send(options.page.fragment(options.page.message(err, status, storageFull)));
    } else if (isPlainForm(req) && req.method === 'POST') {
      // Without JavaScript: the page again, with the error next to the field and the text as typed.
      const body = (req.body ?? {}) as Record<string, unknown>;
      const error = options.page.message(err, status, storageFull);
      const content = req.path === '/print' && typeof body.content === 'string' ? body.content : '';
      const printerId = typeof body.printerId === 'string' ? body.printerId : undefined;
      const rendered = await options.renderPage({ error, content, printerId }).catch(() => null);
      if (rendered) res.status(status).type('html').send(rendered);
      else res.status(status).type('text').send(error);
    } else {
      res.status(status).json({ error: message, ...details });
    }
  };
}

function toHttpError(
  err: unknown,
  bodyLimit: number,
): { status: number; message: string; details: Record<string, unknown> } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, details: err.details };
  if (err instanceof JobError)
    return { status: JOB_ERROR_STATUS[err.kind], message: err.message, details: err.details };
  const e = err as { type?: string; status?: number; message?: string };
  switch (e.type) {
    case 'entity.parse.failed':
      return { status: 400, message: `the body is not valid JSON (${e.message ?? 'parse error'})`, details: {} };
    case 'entity.too.large':
      return { status: 413, message: `the body is larger than the ${bodyLimit} bytes allowed`, details: {} };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, message: 'send the body in UTF-8', details: {} };
    case 'utf8.invalid':
      return { status: 400, message: e.message ?? 'the body is not valid UTF-8', details: { field: 'content' } };
    case 'parameters.too.many':
      return { status: 400, message: 'the form has too many fields', details: {} };
    default:
      if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
        return { status: e.status, message: e.message ?? 'bad request', details: {} };
      return { status: 500, message: 'internal error; the server log has the details', details: {} };
  }
}
