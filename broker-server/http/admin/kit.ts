/**
 * What every section of the admin routes shares: the page's answers (HTML, no-store), the session guard of
 * the page (session cookie, CSRF token, cross-site check), the Bearer guard of the admin API, and the page
 * rendered with each section's current state.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../../../runtime/logger';
import { type AdminSession, type AdminSessions, csrfMatches, type LoginThrottle } from '../../admin/admin-auth';
import { serverUrlOf } from '../../downloads/download-routes';
import type { PairingService } from '../../pairing/pairing-service';
import type { PrinterRegistry } from '../../printers/printer-registry';
import type { PrinterStatusList } from '../../printers/printer-status-list';
import type { ApiKeyStore } from '../../store/api-key-store';
import type { WebhookAdmin } from '../../webhooks/webhook-admin';
import { crossSiteProblem, type FormTokens } from '../guards/cross-site';
import type { SafeHtml } from '../page/html';
import { bearerToken, bodyFields } from '../api/request-fields';
import { adminPage, type AdminPageState, adminRefusal, loginPage } from './views';

export const ADMIN_COOKIE = 'printhop_admin';

export interface AdminRouteOptions {
  accounts: PrinterRegistry;
  printers: PrinterStatusList;
  password: string;
  sessions: AdminSessions;
  throttle: LoginThrottle;
  sessionMs: number;
  /** The broker URL for a new agent's command; null: ws://<Host>/mqtt of the request. */
  agentMqttUrl: string | null;
  /** Agents waiting with a code (broker-server/pairing/): listed and approved here. */
  pairing: PairingService;
  /** Unfinished jobs per printer, for the fleet table. */
  unfinishedCounts: () => Promise<Map<string, number>>;
  /** API keys: created (shown once), listed and revoked on the page, as `npm run api-keys` does. */
  apiKeys: ApiKeyStore;
  /** Webhook endpoints, their deliveries and attempts, as `npm run webhooks` does; absent: no webhook section. */
  webhooks?: WebhookAdmin;
  parseBody: RequestHandler[];
  /** The page's per-view form tokens (http/cross-site.ts): admin forms carry one too, beside the session's CSRF token. */
  formTokens: FormTokens;
  log: Logger;
}

export interface AdminRequest extends Request {
  adminSession?: AdminSession;
}

/** What a section of the page adds to the rendered state (a notice, a secret shown once, ...). */
export type PageExtras = Partial<AdminPageState>;

export interface AdminKit {
  options: AdminRouteOptions;
  log: Logger;
  /** An HTML answer, never cached. */
  send(res: Response, status: number, page: SafeHtml): void;
  /** The login form, with a message. */
  login(message?: string | null): SafeHtml;
  /** True when the request came from another site or without a form token (then already answered 403). */
  refuseCrossSite(req: Request, res: Response): boolean;
  /** The admin page for `session`, with what the section adds. */
  render(req: Request, session: AdminSession, extra?: PageExtras): Promise<SafeHtml>;
  /** The admin page with a notice, answered with `status`. */
  notice(
    req: AdminRequest,
    res: Response,
    status: number,
    kind: 'ok' | 'error',
    text: string,
    extra?: PageExtras,
  ): Promise<void>;
  /** Every form of the page: a live session and its CSRF token (sets `req.adminSession`). */
  requireSession: RequestHandler;
  /** Every admin API call: the admin password as a Bearer token (counted against the lock-out). */
  requireBearer: RequestHandler;
}

export function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export function adminKit(options: AdminRouteOptions): AdminKit {
  const log = options.log.child({ module: 'admin' });
  const send = (res: Response, status: number, page: SafeHtml) =>
    void res.status(status).set('Cache-Control', 'no-store').type('html').send(page.value);
  const login = (message: string | null = null) => loginPage(message, options.formTokens.issue());

  const refuseCrossSite = (req: Request, res: Response): boolean => {
    const problem = crossSiteProblem(req, options.formTokens);
    if (!problem) return false;
    log.warn({ address: req.ip, path: req.path }, 'cross-site admin request refused');
    send(res, 403, adminRefusal(problem.messageFr));
    return true;
  };

  const render = async (req: Request, session: AdminSession, extra: PageExtras = {}) =>
    adminPage({
      csrfToken: session.csrfToken,
      formToken: options.formTokens.issue(),
      accounts: await options.accounts.list(),
      printers: await options.printers.list(),
      pairings: await options.pairing.pending(),
      pairingEnabled: options.pairing.enabled,
      serverUrl: serverUrlOf(req),
      unfinished: await options.unfinishedCounts(),
      apiKeys: await options.apiKeys.list(),
      webhooks: options.webhooks ? await webhookState(options.webhooks) : undefined,
      ...extra,
    });

  const notice = async (
    req: AdminRequest,
    res: Response,
    status: number,
    kind: 'ok' | 'error',
    text: string,
    extra: PageExtras = {},
  ) => send(res, status, await render(req, req.adminSession!, { notice: { kind, text }, ...extra }));

  return {
    options,
    log,
    send,
    login,
    refuseCrossSite,
    render,
    notice,
    requireSession: sessionGuard(options, log, send, login, refuseCrossSite),
    requireBearer: bearerGuard(options, log),
  };
}

/** Deliveries and attempts shown on the page: the newest, enough for an operator to see what is going on. */
const PAGE_DELIVERIES = 20;
const PAGE_ATTEMPTS = 50;

async function webhookState(webhooks: WebhookAdmin): Promise<AdminPageState['webhooks']> {
  return {
    endpoints: await webhooks.endpoints(),
    deliveries: await webhooks.deliveries({ limit: PAGE_DELIVERIES }),
    attempts: await webhooks.attempts({ limit: PAGE_ATTEMPTS }),
  };
}

function sessionGuard(
  options: AdminRouteOptions,
  log: Logger,
  send: AdminKit['send'],
  login: AdminKit['login'],
  refuseCrossSite: AdminKit['refuseCrossSite'],
): RequestHandler {
  return (req: AdminRequest, res: Response, next: NextFunction) => {
    const id = cookieOf(req, ADMIN_COOKIE);
    const status = options.sessions.status(id);
    const session = options.sessions.get(id);
    if (refuseCrossSite(req, res)) return;
    if (!session) {
      log.info({ address: req.ip, path: req.path, session: status }, 'admin request without a valid session refused');
      send(
        res,
        401,
        status === 'expired'
          ? login('Votre session a expiré : reconnectez-vous.')
          : login('Connectez-vous pour administrer les imprimantes.'),
      );
      return;
    }
    if (!csrfMatches(session, bodyFields(req).csrf)) {
      log.warn({ address: req.ip, path: req.path }, 'admin form with a missing or forged CSRF token refused');
      send(
        res,
        403,
        adminRefusal(
          'Formulaire refusé : jeton de sécurité absent ou invalide. Rechargez la page d’administration et recommencez.',
        ),
      );
      return;
    }
    req.adminSession = session;
    next();
  };
}

function bearerGuard(options: AdminRouteOptions, log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const given = bearerToken(req);
    const verdict = options.throttle.attempt(req.ip ?? 'unknown', given, options.password);
    if (verdict.ok) return next();
    if (verdict.reason === 'no-password')
      log.info({ address: req.ip, path: req.path }, 'admin API request without a password');
    else log.warn({ address: req.ip, reason: verdict.reason, path: req.path }, 'admin API request refused');
    if (verdict.reason === 'locked') {
      res
        .set('Retry-After', String(verdict.retryAfterSeconds ?? 60))
        .status(429)
        .json({
          error: `too many wrong admin passwords from your address; try again in ${verdict.retryAfterSeconds ?? 60} s`,
        });
    } else {
      res
        .set('WWW-Authenticate', 'Bearer realm="printhop admin"')
        .status(401)
        .json({ error: given ? 'wrong admin password' : 'the admin API needs Authorization: Bearer <admin password>' });
    }
  };
}
