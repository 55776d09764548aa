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
