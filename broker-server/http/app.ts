/** The HTTP application: assembles the routes (http/routes/), the limits and the one error handler. */
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../../config/logger';
import type { JobIntake } from '../jobs/job-intake';
import type { JobService } from '../jobs/job-service';
import type { PrinterRegistry } from '../printers/printer-registry';
import { errorHandler, HttpError } from './errors';
import type { LiveUpdates } from './live-updates';
import { TokenBuckets } from './rate-limit';
import type { RouteContext } from './routes/context';
import { eventRoutes } from './routes/events';
import { jobRoutes } from './routes/jobs-api';
import { pageRenderer, pageRoutes } from './routes/page';
import { printerRoutes } from './routes/printers-api';
import { securityHeaders } from './security-headers';
import { adminRoutes, type AdminRouteOptions } from './routes/admin';
import { operationRoutes, type OperationsOptions } from './routes/operations';

export interface AppOptions {
  jobs: JobService;
  printers: PrinterRegistry;
  intake: JobIntake;
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
  /** /healthz, /readyz, /metrics. */
  operations: OperationsOptions;
  /** The admin section; absent: none (tests of other parts). */
  admin?: Omit<AdminRouteOptions, 'parseBody' | 'log' | 'printers'>;
}

export function createApp(options: AppOptions): express.Express {
  const httpLog = options.log.child({ module: 'http' });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', options.trustProxy);
  app.use(securityHeaders());

  const ctx: RouteContext = {
    ...options,
    parseBody: [
      express.json({ limit: options.bodyLimitBytes, strict: false }),
      express.urlencoded({ extended: false, limit: options.bodyLimitBytes, parameterLimit: 20 }),
    ],
    limitJobCreation: jobCreationLimit(options.printRate, httpLog),
  };
  const renderPage = pageRenderer(ctx);
  app.use(operationRoutes(options.operations));
  if (options.admin) app.use(adminRoutes({ ...options.admin, printers: options.printers, parseBody: ctx.parseBody, log: options.log }));
  app.use(pageRoutes(ctx, renderPage));
  app.use(eventRoutes(ctx));
  app.use(jobRoutes(ctx));
  app.use(printerRoutes(ctx));
  app.use((req, _res, next) => next(new HttpError(404, `nothing at ${req.method} ${req.path}`)));
  app.use(errorHandler({ bodyLimitBytes: options.bodyLimitBytes, renderPage, log: httpLog }));
  return app;
}

function jobCreationLimit(rate: AppOptions['printRate'], log: Logger) {
  const buckets = new TokenBuckets(rate);
  return (req: Request, res: Response, next: NextFunction) => {
    const decision = buckets.take(req.ip ?? 'unknown');
    if (decision.ok) return next();
    res.set('Retry-After', String(decision.retryAfterSeconds));
    log.warn({ address: req.ip, path: req.path, retryAfterSeconds: decision.retryAfterSeconds }, 'job creation rate limited');
    next(
      new HttpError(
        429,
        `too many messages from your address; try again in ${decision.retryAfterSeconds} s`,
        { retryAfterSeconds: decision.retryAfterSeconds },
        `Trop de messages envoyés depuis votre adresse : réessayez dans ${decision.retryAfterSeconds} s.`,
      ),
    );
  };
}

export const PUBLIC_DIR = path.resolve(import.meta.dirname, '../../public');
