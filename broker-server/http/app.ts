/** Routes: the page, its fragments and the JSON API. Thin: they validate, then call the job service. */
import path from 'node:path';
import { createRequire } from 'node:module';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../../config/logger';
import type { Dispatcher } from '../jobs/dispatcher';
import { isCodePageName, DEFAULT_CODE_PAGE } from '../../protocol/codepages';
import { layoutReceipt } from '../../protocol/receipt-layout';
import { isPrinterId } from '../../protocol/topics';
import { JobError, type JobService, type PrintJob } from '../jobs/job-service';
import type { LiveUpdates } from './live-updates';
import { TokenBuckets } from './rate-limit';
import { securityHeaders } from './security-headers';
import { refuseLargeBodies } from './body-limit';
import { type FormTokens, refuseCrossSite } from './cross-site';
import type { HostCheck } from './host-check';
import type { StreamLimits } from './stream-limits';
import { receiptLengthProblem } from '../../protocol/receipt-limits';
import { MAX_CONTENT_LENGTH } from '../../protocol/messages';
import { confirmation, errorMessage, page, PAGE_JOB_COUNT, type PageState, type ReceiptPreview, receiptPreview } from './views';
import { frenchNumber, parseJobId, validateJobListQuery, validatePrintRequest } from './validation';

/** What a test print's job shows as its content in lists; the agent prints its own test receipt. */
export const TEST_PRINT_CONTENT = 'Page de test';

export interface AppOptions {
  jobs: JobService;
  dispatcher: Dispatcher;
  live: LiveUpdates;
  defaultPrinterId: string;
  /** Paper width of the preview for a printer whose agent has not reported its own. */
  paperColumns: number;
  bodyLimitBytes: number;
  /** Jobs a client address may create: `burst` at once, then `perMinute`; 0 per minute is no limit. */
  printRate: { perMinute: number; burst: number };
  /** Express's `trust proxy`, so that behind a reverse proxy the limit applies to the real client. */
  trustProxy: boolean | number | string;
  publicDir: string;
  log: Logger;
  /** Issue 17's protections, built by the composition root. */
  protections: {
    hostCheck: HostCheck;
    formTokens: FormTokens;
    streamLimits: StreamLimits;
    receiptMaxLines: number;
    /** Previews a client address may ask for: a bucket of their own, so typing does not eat the print budget. */
    previewRate: { perMinute: number; burst: number };
  };
}

class HttpError extends Error {
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

const require = createRequire(import.meta.url);
// htmx and the two extensions the page uses, straight from node_modules (never a CDN).
// A Map, not a plain object: `/vendor/constructor` must not find Object's own properties.
const VENDOR_FILES = new Map<string, string>([
  ['htmx.min.js', require.resolve('htmx.org/dist/htmx.min.js')],
  ['hx-sse.min.js', require.resolve('htmx.org/dist/ext/hx-sse.min.js')],
  ['hx-upsert.min.js', require.resolve('htmx.org/dist/ext/hx-upsert.min.js')],
]);

const isHtmx = (req: Request) => req.get('HX-Request') === 'true';
const isPlainForm = (req: Request) => !isHtmx(req) && Boolean(req.is('application/x-www-form-urlencoded'));

export function createApp(options: AppOptions): express.Express {
  const { jobs, dispatcher, live, log } = options;
  const httpLog = log.child({ module: 'http' });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', options.trustProxy);
  app.use(securityHeaders());
  const { hostCheck, formTokens, streamLimits, receiptMaxLines } = options.protections;
  app.use(hostCheck.middleware);
  app.use(refuseLargeBodies(options.bodyLimitBytes));
  const crossSite = refuseCrossSite(formTokens, (refused) => new HttpError(403, refused.message, {}, refused.messageFr));

  // After the body is read (within BODY_LIMIT_BYTES), so that a page without JavaScript can show the text back.
  const buckets = new TokenBuckets(options.printRate);
  const limitJobCreation = (req: Request, res: Response, next: NextFunction) => {
    const decision = buckets.take(req.ip ?? 'unknown');
    if (decision.ok) return next();
    res.set('Retry-After', String(decision.retryAfterSeconds));
    httpLog.warn({ address: req.ip, path: req.path, retryAfterSeconds: decision.retryAfterSeconds }, 'job creation rate limited');
    next(
      new HttpError(
        429,
        `too many messages from your address; try again in ${decision.retryAfterSeconds} s`,
        { retryAfterSeconds: decision.retryAfterSeconds },
        `Trop de messages envoyés depuis votre adresse : réessayez dans ${decision.retryAfterSeconds} s.`,
      ),
    );
  };

  app.use('/static', express.static(options.publicDir, { maxAge: '1h' }));
  app.get('/vendor/:file', (req, res, next) => {
    const file = VENDOR_FILES.get(String(req.params.file));
    if (file) res.sendFile(file, { maxAge: '1d' });
    else next();
  });

  /** The receipt the agent of `printerId` would print for `content` now, on its reported paper and code page. */
  const preview = async (content: string, printerId: string | undefined): Promise<ReceiptPreview> => {
    const id = printerId && isPrinterId(printerId) && (await jobs.isKnownPrinter(printerId)) ? printerId : options.defaultPrinterId;
    const printer = await jobs.printer(id);
    const columns = printer?.columns ?? options.paperColumns;
    const codePage = printer?.codepage && isCodePageName(printer.codepage) ? printer.codepage : DEFAULT_CODE_PAGE;
    return { lines: layoutReceipt({ content, createdAt: new Date() }, { columns, codePage }), columns, codePage, printerId: id };
  };

  const renderPage = async (state: Omit<PageState, 'jobs' | 'printers' | 'defaultPrinterId' | 'preview'>): Promise<string> => {
    const [recent, printers, receipt] = await Promise.all([jobs.list({ limit: PAGE_JOB_COUNT }), jobs.printers(), preview(state.content ?? '', state.printerId)]);
    return page({ ...state, jobs: recent, printers, defaultPrinterId: options.defaultPrinterId, preview: receipt, formToken: formTokens.issue() }).value;
  };

  app.get('/', async (req, res) => {
    const sentId = parseJobId(req.query.sent);
    const sentJob = sentId ? await jobs.get(sentId) : null;
    res.type('html').send(await renderPage({ sentJob }));
  });

  app.get('/events', streamLimits.middleware, live.handle);

  const parseBody = [
    express.json({ limit: options.bodyLimitBytes, strict: false }),
    express.urlencoded({ extended: false, limit: options.bodyLimitBytes, parameterLimit: 20 }),
  ];

  const previewBuckets = new TokenBuckets(options.protections.previewRate);
  const limitPreviews = (req: Request, res: Response, next: NextFunction) => {
    const decision = previewBuckets.take(req.ip ?? 'unknown');
    if (decision.ok) return next();
    res.set('Retry-After', String(decision.retryAfterSeconds));
    next(new HttpError(429, `too many previews from your address; try again in ${decision.retryAfterSeconds} s`, { retryAfterSeconds: decision.retryAfterSeconds }, `Aperçu en pause : trop de demandes depuis votre adresse. Il reprendra dans ${decision.retryAfterSeconds} s.`));
  };

  // No more work than a job: the same character cap before any layout, the same line cap after.
  app.post('/fragments/preview', limitPreviews, ...parseBody, crossSite, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const content = typeof body.content === 'string' ? body.content : '';
    const printerId = typeof body.printerId === 'string' ? body.printerId : undefined;
    const length = [...content].length;
    if (length > MAX_CONTENT_LENGTH) {
      throw new HttpError(400, `the message is ${length} characters long; the limit is ${MAX_CONTENT_LENGTH}`, { field: 'content' }, `Le message fait ${frenchNumber(length)} caractères : la limite est de ${frenchNumber(MAX_CONTENT_LENGTH)}. Raccourcissez-le.`);
    }
    const receipt = await preview(content, printerId);
    const tooLong = receiptLengthProblem(receipt.lines.length, receiptMaxLines, receipt.columns);
    if (tooLong) throw new HttpError(400, tooLong.error, { field: 'content', lines: tooLong.lines, maxLines: tooLong.maxLines }, tooLong.errorFr);
    res.type('html').send(receiptPreview(receipt).value);
  });

  app.post('/print', ...parseBody, crossSite, limitJobCreation, async (req, res) => {
    if (!req.is('application/json') && !req.is('application/x-www-form-urlencoded')) {
      throw new HttpError(415, 'send the message as application/json ({"content": "..."}) or as a form (application/x-www-form-urlencoded)');
    }
    const checked = validatePrintRequest(req.body);
    if (!checked.ok) throw new HttpError(400, checked.error, checked.field ? { field: checked.field } : {}, checked.errorFr);
    const printerId = checked.value.printerId ?? options.defaultPrinterId;
    if (!(await jobs.isKnownPrinter(printerId))) {
      const known = (await jobs.printers()).map((p) => p.id);
      throw new HttpError(422, `unknown printer "${printerId}"; known printers: ${known.join(', ')}`, { field: 'printerId', knownPrinters: known }, `L’imprimante « ${printerId} » est inconnue. Imprimantes connues : ${known.join(', ')}.`);
    }
    // Laid out for this printer's paper, as the agent will: refused whole, never cut.
    const receipt = await preview(checked.value.content, printerId);
    const tooLong = receiptLengthProblem(receipt.lines.length, receiptMaxLines, receipt.columns);
    if (tooLong) throw new HttpError(400, tooLong.error, { field: 'content', lines: tooLong.lines, maxLines: tooLong.maxLines }, tooLong.errorFr);
    const job = await jobs.create({ printerId, content: checked.value.content });
    accepted(req, res, dispatcher, job);
  });

  app.post('/jobs/:id/reprint', ...parseBody, crossSite, limitJobCreation, async (req, res) => {
    const id = parseJobId(req.params.id);
    if (id === null) throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`, {}, 'Cette tâche n’existe pas.');
    const job = await jobs.reprint(id);
    accepted(req, res, dispatcher, job);
  });

  // Every job and printer change as JSON, for API clients and the benchmark: `event: job` / `event: printer`.
  app.get('/jobs/events', streamLimits.middleware, live.handleJson);

  app.get('/jobs', async (req, res) => {
    const query = validateJobListQuery(req.query as Record<string, unknown>);
    if (!query.ok) throw new HttpError(400, query.error, { field: query.field });
    res.json(await jobs.list(query.value));
  });

  app.get('/jobs/:id', async (req, res) => {
    const id = parseJobId(req.params.id);
    const job = id === null ? null : await jobs.get(id);
    if (!job) throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`);
    res.json(job);
  });

  // A test print is a job like any other (stored, published, journaled, acknowledged): exactly once too.
  app.post('/printers/:id/test', ...parseBody, crossSite, limitJobCreation, async (req, res) => {
    const printerId = req.params.id;
    if (!isPrinterId(printerId) || !(await jobs.isKnownPrinter(printerId))) throw new HttpError(404, `no printer ${JSON.stringify(printerId)}`);
    const job = await jobs.create({ printerId, content: TEST_PRINT_CONTENT, kind: 'test' });
    accepted(req, res, dispatcher, job);
  });

  app.get('/printers', async (_req, res) => {
    res.json(await jobs.printers());
  });

  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  app.use((req, _res, next) => next(new HttpError(404, `nothing at ${req.method} ${req.path}`)));

  // One error handler: expected errors say what is wrong; unexpected ones are logged and hidden.
  app.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, message, details } = toHttpError(err, options.bodyLimitBytes);
    if (status >= 500) httpLog.error({ err, method: req.method, path: req.path }, 'request failed');
    else httpLog.debug({ status, method: req.method, path: req.path, error: message }, 'request refused');
    if (res.headersSent) return;
    if (isHtmx(req)) {
      res.status(status).type('html').send(errorMessage(pageMessage(err, status, options.bodyLimitBytes)).value);
    } else if (isPlainForm(req) && req.method === 'POST') {
      // Without JavaScript: the page again, with the error next to the field and the text as typed.
      const body = (req.body ?? {}) as Record<string, unknown>;
      const error = pageMessage(err, status, options.bodyLimitBytes);
      const content = req.path === '/print' && typeof body.content === 'string' ? body.content : '';
      const printerId = typeof body.printerId === 'string' ? body.printerId : undefined;
      const rendered = await renderPage({ error, content, printerId }).catch(() => null);
      if (rendered) res.status(status).type('html').send(rendered);
      else res.status(status).type('text').send(error);
    } else {
      res.status(status).json({ error: message, ...details });
    }
  });

  return app;
}

/** A job is committed: hand it to the dispatcher (not awaited: 201 means stored) and answer `201`. */
function accepted(req: Request, res: Response, dispatcher: Dispatcher, job: PrintJob): void {
  void dispatcher.publish(job);
  res.location(`/jobs/${job.id}`);
  if (isHtmx(req)) res.status(201).type('html').send(confirmation(job).value);
  else if (isPlainForm(req)) res.redirect(303, `/?sent=${job.id}`);
  else res.status(201).json(job);
}

/** The French the page shows for a refused request. */
function pageMessage(err: unknown, status: number, bodyLimit: number): string {
  if (err instanceof HttpError && err.messageFr) return err.messageFr;
  if (err instanceof JobError) {
    if (status === 404) return 'Cette tâche n’existe pas (ou plus).';
    if (status === 409) return 'Seule une tâche imprimée, en échec ou interrompue peut être réimprimée.';
  }
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

function toHttpError(err: unknown, bodyLimit: number): { status: number; message: string; details: Record<string, unknown> } {
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
    case 'parameters.too.many':
      return { status: 400, message: 'the form has too many fields', details: {} };
    default:
      if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, message: e.message ?? 'bad request', details: {} };
      return { status: 500, message: 'internal error; the server log has the details', details: {} };
  }
}

export const PUBLIC_DIR = path.resolve(import.meta.dirname, '../../public');
