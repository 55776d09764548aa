/** The HTTP errors and the one handler: expected errors say what is wrong; unexpected ones are logged and hidden. */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../../config/logger';
import { JobError } from '../../jobs/job-service';
import type { StorageHealth } from '../../store/storage-health';
import { isHtmx, isPlainForm } from '../page/responses';
import { frenchNumber } from '../api/validation';
import { errorMessage } from '../page/views';

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

export interface ErrorHandlerOptions {
  bodyLimitBytes: number;
  /** The page with the error shown, for a form posted without JavaScript. */
  renderPage: (state: { error: string; content: string; printerId: string | undefined }) => Promise<string>;
  log: Logger;
  /** The server's own disk: a write it refused is a 503 with Retry-After, logged once per episode there. */
  storage?: Pick<StorageHealth, 'failed' | 'retryAfterS'>;
}

/** What the page says when the server's disk refuses the job. */
const STORAGE_FULL_FR =
  'Le serveur ne peut pas enregistrer la tâche : son disque est plein. Elle n’a pas été enregistrée ; réessayez dans un moment.';

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
        .send(errorMessage(storageFull ? STORAGE_FULL_FR : pageMessage(err, status, options.bodyLimitBytes)).value);
    } else if (isPlainForm(req) && req.method === 'POST') {
      // Without JavaScript: the page again, with the error next to the field and the text as typed.
      const body = (req.body ?? {}) as Record<string, unknown>;
      const error = storageFull ? STORAGE_FULL_FR : pageMessage(err, status, options.bodyLimitBytes);
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

/** The French the page shows for a refused request. */
function pageMessage(err: unknown, status: number, bodyLimit: number): string {
  if (err instanceof HttpError && err.messageFr) return err.messageFr;
  if (err instanceof JobError) {
    if (status === 404) return 'Cette tâche n’existe pas (ou plus).';
    if (status === 409) return 'Seule une tâche imprimée, en échec ou interrompue peut être réimprimée.';
  }
  if ((err as { type?: string }).type === 'utf8.invalid') return 'Le message contient des caractères invalides.';
  switch (status) {
    case 404:
      return 'Cette adresse n’existe pas.';
    case 413:
      return `Le message est trop volumineux (plus de ${frenchNumber(bodyLimit)} octets).`;
    case 415:
      return 'Le formulaire n’a pas été envoyé dans un format attendu.';
    default:
      return status >= 500 ? 'Erreur du serveur ; réessayez dans un instant.' : 'La demande a été refusée.';
  }
}

function toHttpError(
  err: unknown,
  bodyLimit: number,
): { status: number; message: string; details: Record<string, unknown> } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, details: err.details };
  if (err instanceof JobError) return { status: err.status, message: err.message, details: err.details };
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
