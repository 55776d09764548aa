/** What the route modules are given by http/app.ts. */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { JobIntake } from '../../jobs/job-intake';
import type { JobService, PrintJob } from '../../jobs/job-service';
import type { PrinterStatusList } from '../../printers/printer-status-list';
import type { Idempotency } from './idempotency';
import type { FormTokens } from '../guards/cross-site';
import type { StreamLimits } from '../guards/stream-limits';
import type { WebhookStore } from '../../store/webhook-store';

export interface RouteContext {
  jobs: JobService;
  printers: PrinterStatusList;
  intake: JobIntake;
  /** The event streams (the page's, GET /jobs/events), served by http/page/page-updates.ts. */
  live: { handle: RequestHandler; handleJson: RequestHandler };
  defaultPrinterId: string;
  publicDir: string;
  /** JSON and form bodies, within the body limit. */
  parseBody: RequestHandler[];
  idempotency: Idempotency;
  /** The per-key limit for API key callers, the per-address limit for the rest; after the body is read, so that a page without JavaScript can show the text back. */
  limitJobCreation: RequestHandler;
  /** Its own per-address limit, so that typing does not eat the print budget. */
  limitPreviews: RequestHandler;
  /** Refuses state-changing requests from other sites (Origin / Sec-Fetch-Site, and the page's form token). */
  crossSite: RequestHandler;
  formTokens: FormTokens;
  streamLimits: StreamLimits;
  /** API_KEYS_REQUIRED for one route (http/api-keys.ts): in the handler chain of every route the document marks `apiKey`. */
  requireApiKey: RequestHandler;
  /** Webhook deliveries, for GET /webhooks/deliveries. */
  webhooks: Pick<WebhookStore, 'deliveries'>;
  /** The answer to a created job, for the API and the page alike (http/page/responses.ts). */
  answerCreated: CreatedAnswer;
}

/** `keyField`: the id of the sent form's Idempotency-Key field, renewed in htmx's answer. */
export type CreatedAnswer = (req: Request, res: Response, job: PrintJob, status?: number, keyField?: string) => void;

/**
 * Every router of the app: a path routes only as it is written in the OpenAPI document (`/jobs`, never
 * `/JOBS` nor `/jobs/`), so what a route's guards see and what the route serves are one spelling.
 */
export const ROUTING = { caseSensitive: true, strict: true } as const;
export const newRouter = (): Router => express.Router(ROUTING);

interface RouterLayer {
  route?: { path: unknown };
  handle: { stack?: RouterLayer[]; caseSensitive?: boolean; strict?: boolean };
  rawPath?: unknown;
  slash?: boolean;
}

/** A router matches paths strictly and case-sensitively (ROUTING) exactly when `sensitive`. */
const sameRules = (router: { caseSensitive?: boolean; strict?: boolean }, sensitive: boolean): boolean =>
  (router.caseSensitive === true && router.strict === true) === sensitive;

/** What a path must be, or start with, to reach something of `stack`; null: anything may (a middleware for every path). */
function entrances(stack: RouterLayer[], sensitive: boolean): Array<{ path: string; exact: boolean }> | null {
  const found: Array<{ path: string; exact: boolean }> = [];
  for (const layer of stack) {
    const path = layer.route ? layer.route.path : layer.rawPath;
    if (typeof path !== 'string') return null;
    // The literal start of a path-to-regexp path: up to its first parameter, wildcard, group or escape.
    const literal = /^[^:*{}()[\]\\?+!]*/.exec(path)![0];
    if (layer.route) found.push({ path: literal, exact: sensitive && literal === path });
    else if (layer.slash && layer.handle.stack) {
      const inner = sameRules(layer.handle, sensitive) ? entrances(layer.handle.stack, sensitive) : null;
      if (inner === null) return null;
      found.push(...inner);
    } else if (layer.slash || literal === '' || literal === '/') return null;
    else found.push({ path: literal, exact: false });
  }
  return found;
}

/**
 * `router`, entered only by a path one of its routes could match. An app mounts a dozen routers one after
 * another; without this a request walks every route of each router before its own (about 45 for
 * POST /print), matching each one's path. The entrances are read from the router's own routes once,
 * when it is mounted (after they are all declared): a route without parameters is one exact path (strict,
 * case-sensitive routers), any other the literal start of its path; a router with a middleware for every
 * path is always entered. Routers that ignore case or a trailing slash compare lower-cased starts. The
 * router's `stack` stays visible, so walking the app's routes still finds it.
 */
export function enteredByItsPaths(
  router: Router,
): RequestHandler & { stack: unknown[]; enters: (path: string) => boolean } {
  const options = router as unknown as { caseSensitive?: boolean; strict?: boolean; stack: RouterLayer[] };
  const sensitive = options.caseSensitive === true && options.strict === true;
  const found = entrances(options.stack, sensitive);
  const exact = new Set(found?.filter((e) => e.exact).map((e) => e.path));
  const starts = [...new Set(found?.filter((e) => !e.exact).map((e) => (sensitive ? e.path : e.path.toLowerCase())))];
  const enters = (path: string): boolean => {
    if (found === null) return true;
    const p = sensitive ? path : path.toLowerCase();
    return exact.has(p) || starts.some((start) => p.startsWith(start));
  };
  const entered: RequestHandler = (req, res, next) => {
    if (enters(req.path)) router(req, res, next);
    else next();
  };
  return Object.assign(entered, { stack: options.stack, enters });
}
