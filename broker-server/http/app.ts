/**
 * The HTTP application: assembles the routes by audience (page/, api/, the admin's routes/), the guards
 * every request passes (guards/) and the one error handler.
 */
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../../runtime/logger';
import type { JobIntake } from '../jobs/job-intake';
import type { JobService } from '../jobs/job-service';
import type { PrinterStatusList } from '../printers/printer-status-list';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { ApiKeyStore } from '../store/api-key-store';
import { authenticate, limitJobCreation, requireApiKey } from './api/api-keys';
import { errorHandler, type ErrorHandlerOptions, HttpError } from './guards/errors';
import type { Idempotency } from './api/idempotency';
import type { LiveStreams } from './live-streams';
import { TokenBuckets } from './guards/rate-limit';
import { enteredByItsPaths, ROUTING, type RouteContext } from './api/context';
import { eventRoutes } from './api/events';
import { jobRoutes } from './api/jobs-api';
import { webhookRoutes } from './api/webhooks-api';
import type { WebhookStore } from '../store/webhook-store';
import { pageRenderer, pageRoutes } from './page/page';
import { pageErrors } from './page/error-text';
import { accepted } from './page/responses';
import { printerRoutes } from './api/printers-api';
import { securityHeaders } from './guards/security-headers';
import { refuseLargeBodies } from './guards/body-limit';
import { inOneLayer } from './guards/in-one-layer';
import { jsonBody } from './api/json-body';
import { verifyUtf8, verifyUtf8Form } from './api/validation';
import { type FormTokens, refuseCrossSite } from './guards/cross-site';
import type { HostCheck } from './guards/host-check';
import type { StreamLimits } from './guards/stream-limits';
import { adminRoutes, type AdminRouteOptions } from './admin/routes';
import { operationRoutes, type OperationsOptions } from './api/operations';
import { openApiRoutes } from './api-document';
import type { PairingService } from '../pairing/pairing-service';
import { pairingRoutes } from '../pairing/pairing-routes';
import type { AgentFiles } from '../downloads/agent-files';
import { downloadRoutes } from '../downloads/download-routes';

export interface AppOptions {
  jobs: JobService;
  printers: PrinterStatusList;
  intake: JobIntake;
  live: LiveStreams;
  defaultPrinterId: string;
  bodyLimitBytes: number;
  /** Jobs a client address may create: `burst` at once, then `perMinute`; 0 per minute is no limit. */
  printRate: { perMinute: number; burst: number };
  /** Express's `trust proxy`, so that behind a reverse proxy the limit applies to the real client. */
  trustProxy: boolean | number | string;
  publicDir: string;
  apiKeys: ApiKeyStore;
  /** A key's own limit on creating jobs; null: none. */
  apiKeyLimiter: RateLimiterAbstract | null;
  /** The JSON API refuses callers without a key. */
  apiKeysRequired: boolean;
  idempotency: Idempotency;
  /** Webhook deliveries, for GET /webhooks/deliveries. */
  webhooks: Pick<WebhookStore, 'deliveries'>;
  log: Logger;
  /** The guards, built by the composition root. */
  protections: {
    hostCheck: HostCheck;
    formTokens: FormTokens;
    streamLimits: StreamLimits;
    /** Previews a client address may ask for: a bucket of their own, so typing does not eat the print budget. */
    previewRate: { perMinute: number; burst: number };
  };
  /** /healthz, /readyz, /metrics. */
  operations: OperationsOptions;
  /** The server's own disk: writes it refuses answer 503 (store/storage-health.ts). */
  storage?: ErrorHandlerOptions['storage'];
  /** Agents pairing with a printed code (`POST /pairing`), approved in the admin section. */
  pairing: { service: PairingService; agentMqttUrl: string | null };
  /** The agents this server hands out at /agents/ (broker-server/downloads/). */
  agentFiles: AgentFiles;
  /** The admin section; absent: none (tests of other parts). */
  admin?: Omit<
    AdminRouteOptions,
    'parseBody' | 'log' | 'printers' | 'formTokens' | 'pairing' | 'unfinishedCounts' | 'apiKeys'
  >;
}

export function createApp(options: AppOptions): express.Express {
  const httpLog = options.log.child({ module: 'http' });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', options.trustProxy);
  // One spelling per route, on the app's own router as on every route module's (api/context.ts).
  app.set('case sensitive routing', ROUTING.caseSensitive);
  app.set('strict routing', ROUTING.strict);
  const { hostCheck, formTokens } = options.protections;
  // One layer of the app's router for the three guards every request passes (guards/in-one-layer.ts).
  app.use(inOneLayer(securityHeaders(), hostCheck.middleware, refuseLargeBodies(options.bodyLimitBytes)));

  const ctx = routeContext(options, httpLog);
  const renderPage = pageRenderer(ctx);
  // Before the API keys: these have their own credentials in the Authorization header (METRICS_TOKEN, the admin password).
  app.use(enteredByItsPaths(operationRoutes(options.operations)));
  if (options.admin)
    app.use(
      enteredByItsPaths(
        adminRoutes({
          ...options.admin,
          printers: options.printers,
          parseBody: ctx.parseBody,
          formTokens,
          pairing: options.pairing.service,
          unfinishedCounts: () => options.jobs.queries.unfinishedCounts(),
          apiKeys: options.apiKeys,
          log: options.log,
        }),
      ),
    );
  // Before the API keys too: an agent that is pairing has none; its pairing secret is its credential.
  app.use(
    enteredByItsPaths(
      pairingRoutes({
        pairing: options.pairing.service,
        agentMqttUrl: options.pairing.agentMqttUrl,
        parseBody: ctx.parseBody,
        log: options.log,
      }),
    ),
  );
  app.use(enteredByItsPaths(downloadRoutes({ files: options.agentFiles, log: options.log })));
  app.use(authenticate(options.apiKeys, { log: httpLog }));
  // Each router is entered only by the paths it serves (api/context.ts): a request meets its own routes only.
  app.use(enteredByItsPaths(pageRoutes(ctx, renderPage)));
  app.use(enteredByItsPaths(eventRoutes(ctx)));
  app.use(enteredByItsPaths(jobRoutes(ctx)));
  app.use(enteredByItsPaths(printerRoutes(ctx)));
  app.use(enteredByItsPaths(webhookRoutes(ctx)));
  app.use(enteredByItsPaths(openApiRoutes(ctx.requireApiKey)));
  app.use((req, _res, next) => next(new HttpError(404, `nothing at ${req.method} ${req.path}`)));
  app.use(
    errorHandler({
      bodyLimitBytes: options.bodyLimitBytes,
      renderPage,
      page: pageErrors(options.bodyLimitBytes),
      log: httpLog,
      storage: options.storage,
    }),
  );
  return app;
}

/** What the route modules are given: the app's options, and the guards and body parsers made from them. */
function routeContext(options: AppOptions, httpLog: Logger): RouteContext {
  const { formTokens, streamLimits, previewRate } = options.protections;
  return {
    ...options,
    formTokens,
    streamLimits,
    answerCreated: accepted,
    requireApiKey: requireApiKey({ required: options.apiKeysRequired, formTokens }),
    crossSite: refuseCrossSite(formTokens, (refused) => new HttpError(403, refused.message, {}, refused.messageFr)),
    parseBody: [
      jsonBody(
        options.bodyLimitBytes,
        express.json({ limit: options.bodyLimitBytes, strict: false, verify: verifyUtf8 }),
      ),
      express.urlencoded({
        extended: false,
        limit: options.bodyLimitBytes,
        parameterLimit: 20,
        verify: verifyUtf8Form,
      }),
    ],
    limitJobCreation: limitJobCreation(
      options.apiKeyLimiter,
      addressLimit(options.printRate, httpLog, 'job creation rate limited', (seconds) => [
        `too many messages from your address; try again in ${seconds} s`,
        `Trop de messages envoyés depuis votre adresse : réessayez dans ${seconds} s.`,
      ]),
      httpLog,
    ),
    limitPreviews: addressLimit(previewRate, httpLog, 'previews rate limited', (seconds) => [
      `too many previews from your address; try again in ${seconds} s`,
      `Aperçu en pause : trop de demandes depuis votre adresse. Il reprendra dans ${seconds} s.`,
    ]),
  };
}

/** A per-address token bucket: past it, 429 with Retry-After and a message in English (API) and French (page). */
function addressLimit(
  rate: { perMinute: number; burst: number },
  log: Logger,
  logMessage: string,
  messages: (seconds: number) => [string, string],
) {
  const buckets = new TokenBuckets(rate);
  return (req: Request, res: Response, next: NextFunction) => {
    const decision = buckets.take(req.ip ?? 'unknown');
    if (decision.ok) return next();
    const seconds = decision.retryAfterSeconds;
    res.set('Retry-After', String(seconds));
    log.warn({ address: req.ip, path: req.path, retryAfterSeconds: seconds }, logMessage);
    const [message, messageFr] = messages(seconds);
    next(new HttpError(429, message, { retryAfterSeconds: seconds }, messageFr));
  };
}

export const PUBLIC_DIR = path.resolve(import.meta.dirname, '../../public');
