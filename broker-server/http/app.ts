/** Routes: the page, its fragments and the JSON API. Thin: they validate, then call the job service. */
import path from 'node:path';
import { createRequire } from 'node:module';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../../config/logger';
import type { Dispatcher } from '../jobs/dispatcher';
import { JobError, type JobService, type PrintJob } from '../jobs/job-service';
import { confirmation, errorMessage, jobList, page, printerList } from './views';
import { parseJobId, validateJobListQuery, validatePrintRequest } from './validation';
import { isPrinterId } from '../../protocol/topics';

/** What a test print's job shows as its content in lists; the agent prints its own test receipt. */
export const TEST_PRINT_CONTENT = 'Page de test';

export interface AppOptions {
  jobs: JobService;
  dispatcher: Dispatcher;
  defaultPrinterId: string;
  bodyLimitBytes: number;
  publicDir: string;
  log: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const require = createRequire(import.meta.url);
const HTMX_FILE = require.resolve('htmx.org/dist/htmx.min.js');

const isHtmx = (req: Request) => req.get('HX-Request') === 'true';
const isPlainForm = (req: Request) => !isHtmx(req) && Boolean(req.is('application/x-www-form-urlencoded'));

export function createApp(options: AppOptions): express.Express {
  const { jobs, dispatcher, log } = options;
  const httpLog = log.child({ module: 'http' });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use('/static', express.static(options.publicDir, { maxAge: '1h' }));
  app.get('/vendor/htmx.min.js', (_req, res) => res.sendFile(HTMX_FILE, { maxAge: '1d' }));

  app.get('/', async (req, res) => {
    const sentId = parseJobId(req.query.sent);
    const [jobList_, printers, sentJob] = await Promise.all([jobs.list({ limit: 20 }), jobs.printers(), sentId ? jobs.get(sentId) : null]);
    res.type('html').send(page({ jobs: jobList_, printers, defaultPrinterId: options.defaultPrinterId, sentJob }).value);
  });

  app.get('/fragments/jobs', async (_req, res) => {
    res.type('html').send(jobList(await jobs.list({ limit: 20 })).value);
  });

  app.get('/fragments/printers', async (_req, res) => {
    res.type('html').send(printerList(await jobs.printers()).value);
  });

  const parseBody = [
    express.json({ limit: options.bodyLimitBytes, strict: false }),
    express.urlencoded({ extended: false, limit: options.bodyLimitBytes, parameterLimit: 20 }),
  ];

  app.post('/print', ...parseBody, async (req, res) => {
    if (!req.is('application/json') && !req.is('application/x-www-form-urlencoded')) {
      throw new HttpError(415, 'send the message as application/json ({"content": "..."}) or as a form (application/x-www-form-urlencoded)');
    }
    const checked = validatePrintRequest(req.body);
    if (!checked.ok) throw new HttpError(400, checked.error, checked.field ? { field: checked.field } : {});
    const printerId = checked.value.printerId ?? options.defaultPrinterId;
    if (!(await jobs.isKnownPrinter(printerId))) {
      const known = (await jobs.printers()).map((p) => p.id);
      throw new HttpError(422, `unknown printer "${printerId}"; known printers: ${known.join(', ')}`, { field: 'printerId', knownPrinters: known });
    }
    const job = await jobs.create({ printerId, content: checked.value.content });
    void dispatcher.publish(job);
    sendCreated(req, res, job);
  });

  app.post('/jobs/:id/reprint', async (req, res) => {
    const id = parseJobId(req.params.id);
    if (id === null) throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`);
    const job = await jobs.reprint(id);
    void dispatcher.publish(job);
    sendCreated(req, res, job);
  });

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
  app.post('/printers/:id/test', async (req, res) => {
    const printerId = req.params.id;
    if (!isPrinterId(printerId) || !(await jobs.isKnownPrinter(printerId))) throw new HttpError(404, `no printer ${JSON.stringify(printerId)}`);
    const job = await jobs.create({ printerId, content: TEST_PRINT_CONTENT, kind: 'test' });
    void dispatcher.publish(job);
    sendCreated(req, res, job);
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
      res.status(status).type('html').send(errorMessage(message).value);
    } else if (isPlainForm(req) && req.path === '/print') {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const [recent, printers] = await Promise.all([jobs.list({ limit: 20 }), jobs.printers()]).catch(() => [[], []] as const);
      res.status(status).type('html').send(
        page({
          jobs: [...recent],
          printers: [...printers],
          defaultPrinterId: options.defaultPrinterId,
          error: message,
          content: typeof body.content === 'string' ? body.content : '',
          printerId: typeof body.printerId === 'string' ? body.printerId : undefined,
        }).value,
      );
    } else {
      res.status(status).json({ error: message, ...details });
    }
  });

  return app;
}

function sendCreated(req: Request, res: Response, job: PrintJob): void {
  res.location(`/jobs/${job.id}`);
  if (isHtmx(req)) res.status(201).type('html').send(confirmation(job).value);
  else if (isPlainForm(req)) res.redirect(303, `/?sent=${job.id}`);
  else res.status(201).json(job);
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
