/**
 * The admin section: the printer registry from the page (/admin, a login form, a session cookie, a CSRF
 * token in every form) and from the admin API (/admin/api/..., `Authorization: Bearer <admin password>`,
 * used by `npm run printers`). Wrong passwords from one address lock it out for a while, whichever door.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../../../config/logger';
import { type AdminSession, type AdminSessions, csrfMatches, type LoginThrottle } from '../../admin/admin-auth';
import { PrinterAdminError, type PrinterAccounts } from '../../printers/printer-accounts';
import type { PrinterRegistry } from '../../printers/printer-registry';
import { shellQuote } from '../../access-banner';
import { adminPage, type AdminPageState, adminRefusal, loginPage } from '../admin-views';
import { crossSiteProblem, type FormTokens } from '../guards/cross-site';
import type { SafeHtml } from '../page/html';
import { ApiError, IssuedToken, PrinterAccount, RemovedPrinter } from '../api/api-schemas';
import { newRouter } from '../api/context';
import { type ApiOperation, type ApiResponse, errorResponse } from '../api/openapi';
import { PrinterId } from '../api/validation';
import { API_KEY_NAME_PATTERN, hashApiKey, newApiKey } from '../api/api-keys';
import type { ApiKeyStore } from '../../store/api-key-store';
import { PairingError, type PairingService } from '../../pairing/pairing-service';
import { serverUrlOf } from '../../downloads/download-routes';
import { ApprovedPairing, PairingApproval, PendingPairing } from '../../pairing/pairing-schemas';

export const ADMIN_COOKIE = 'printhop_admin';

export interface AdminRouteOptions {
  accounts: PrinterAccounts;
  printers: PrinterRegistry;
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
  parseBody: express.RequestHandler[];
  /** The page's per-view form tokens (http/cross-site.ts): admin forms carry one too, beside the session's CSRF token. */
  formTokens: FormTokens;
  log: Logger;
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** DELETE /admin/api/printers/:id?force=true: anything else is no force. */
const RemoveQuery = z.object({
  force: z
    .enum(['true', '1'])
    .optional()
    .catch(undefined)
    .meta({ description: 'Remove it even with unfinished jobs, which end `failed`' }),
});

interface AdminRequest extends Request {
  adminSession?: AdminSession;
}

// eslint-disable-next-line max-lines-per-function -- owned by fleet this stop (issue 21); split it there
export function adminRoutes(options: AdminRouteOptions): Router {
  const router = newRouter();
  const log = options.log.child({ module: 'admin' });

  const send = (res: Response, status: number, page: SafeHtml) =>
    res.status(status).set('Cache-Control', 'no-store').type('html').send(page.value);

  const agentCommand = (req: Request, printerId: string, token: string) => {
    const url = options.agentMqttUrl ?? `${req.secure ? 'wss' : 'ws'}://${req.get('host') ?? 'localhost:3000'}/mqtt`;
    return `MQTT_URL=${shellQuote(url)} PRINTER_ID=${printerId} MQTT_PASSWORD=${shellQuote(token)} npm run agent`;
  };

  const login = (message: string | null = null) => loginPage(message, options.formTokens.issue());

  /** A browser request from another site (Origin / Sec-Fetch-Site) or without this server's form token: refused, as on the page. */
  const refuseCrossSite = (req: Request, res: Response): boolean => {
    const problem = crossSiteProblem(req, options.formTokens);
    if (!problem) return false;
    log.warn({ address: req.ip, path: req.path }, 'cross-site admin request refused');
    send(res, 403, adminRefusal(problem.messageFr));
    return true;
  };

  const renderAdmin = async (req: Request, session: AdminSession, extra: Partial<AdminPageState> = {}) =>
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
      ...extra,
    });

  /** Every admin form: a live session and its CSRF token. */
  const requireSession = (req: AdminRequest, res: Response, next: NextFunction) => {
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
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!csrfMatches(session, body.csrf)) {
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

  const pageError = async (req: Request, res: Response, session: AdminSession, err: unknown) => {
    if (!(err instanceof PrinterAdminError)) throw err;
    const unfinished = err.details.unfinishedJobs;
    if (err.status === 409 && Array.isArray(unfinished)) {
      const printerId = String(err.details.printerId ?? '');
      send(
        res,
        409,
        await renderAdmin(req, session, {
          notice: { kind: 'error', text: err.messageFr },
          confirmRemove: { printerId, unfinished: unfinished.length },
        }),
      );
      return;
    }
    send(res, err.status, await renderAdmin(req, session, { notice: { kind: 'error', text: err.messageFr } }));
  };

  router.get('/admin', async (req, res) => {
    const id = cookieOf(req, ADMIN_COOKIE);
    const status = options.sessions.status(id);
    const session = options.sessions.get(id);
    if (!session) {
      send(res, 200, login(status === 'expired' ? 'Votre session a expiré : reconnectez-vous.' : null));
      return;
    }
    send(res, 200, await renderAdmin(req, session));
  });

  router.post('/admin/login', ...options.parseBody, (req, res) => {
    if (refuseCrossSite(req, res)) return;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const given = typeof body.password === 'string' ? body.password : '';
    const verdict = options.throttle.attempt(req.ip ?? 'unknown', given, options.password);
    if (!verdict.ok) {
      log.warn({ address: req.ip, reason: verdict.reason }, 'admin login refused');
      if (verdict.reason === 'locked') {
        res.set('Retry-After', String(verdict.retryAfterSeconds ?? 60));
        send(
          res,
          429,
          login(
            `Trop d’essais manqués depuis votre adresse : réessayez dans ${Math.ceil((verdict.retryAfterSeconds ?? 60) / 60)} min.`,
          ),
        );
      } else if (verdict.reason === 'no-password') send(res, 401, login('Entrez le mot de passe d’administration.'));
      else send(res, 401, login('Mot de passe incorrect.'));
      return;
    }
    options.sessions.destroy(cookieOf(req, ADMIN_COOKIE));
    const session = options.sessions.create();
    res.cookie(ADMIN_COOKIE, session.id, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: '/admin',
      maxAge: options.sessionMs,
    });
    log.info({ address: req.ip }, 'admin logged in');
    res.redirect(303, '/admin');
  });

  router.post('/admin/logout', ...options.parseBody, requireSession, (req: AdminRequest, res) => {
    options.sessions.destroy(req.adminSession!.id);
    res.clearCookie(ADMIN_COOKIE, { path: '/admin' });
    res.redirect(303, '/admin');
  });

  router.post('/admin/printers', ...options.parseBody, requireSession, async (req: AdminRequest, res) => {
    const session = req.adminSession!;
    try {
      const issued = await options.accounts.add(((req.body ?? {}) as Record<string, unknown>).printerId);
      send(
        res,
        201,
        await renderAdmin(req, session, {
          notice: { kind: 'ok', text: `Imprimante ${issued.printerId} ajoutée.` },
          issued: { ...issued, command: agentCommand(req, issued.printerId, issued.token) },
        }),
      );
    } catch (err) {
      await pageError(req, res, session, err);
    }
  });

  router.post('/admin/printers/:id/rotate', ...options.parseBody, requireSession, async (req: AdminRequest, res) => {
    const session = req.adminSession!;
    try {
      const issued = await options.accounts.rotate(req.params.id);
      send(
        res,
        200,
        await renderAdmin(req, session, {
          notice: {
            kind: 'ok',
            text: `Nouveau jeton pour ${issued.printerId} : l’ancien est refusé et l’agent connecté a été déconnecté. Relancez-le avec le nouveau ; ses tâches l’attendent.`,
          },
          issued: { ...issued, command: agentCommand(req, issued.printerId, issued.token) },
        }),
      );
    } catch (err) {
      await pageError(req, res, session, err);
    }
  });

  router.post('/admin/printers/:id/remove', ...options.parseBody, requireSession, async (req: AdminRequest, res) => {
    const session = req.adminSession!;
    const force = ((req.body ?? {}) as Record<string, unknown>).force === 'true';
    try {
      const removed = await options.accounts.remove(req.params.id, { force });
      const failed = removed.failedJobs.length
        ? ` ${removed.failedJobs.length} tâche(s) non imprimée(s) passent en échec.`
        : '';
      send(
        res,
        200,
        await renderAdmin(req, session, {
          notice: {
            kind: 'ok',
            text: `Imprimante ${removed.printerId} supprimée ; son agent a été déconnecté.${failed}`,
          },
        }),
      );
    } catch (err) {
      await pageError(req, res, session, err);
    }
  });

  /**
   * Approves a pairing code; a wrong one (no agent ever had it) counts against the address's lock-out,
   * like a wrong password. Resolves with the approval, or throws a PairingError (429 once locked out).
   */
  const approvePairing = async (req: Request, code: unknown, printerId: unknown) => {
    try {
      return await options.pairing.approve(code, printerId);
    } catch (err) {
      if (!(err instanceof PairingError) || !err.wrongCode) throw err;
      const verdict = options.throttle.recordFailure(req.ip ?? 'unknown');
      log.warn({ address: req.ip, reason: verdict.ok ? 'wrong-code' : verdict.reason }, 'wrong pairing code');
      if (!verdict.ok && verdict.reason === 'locked')
        throw new PairingError(
          429,
          `too many wrong codes or passwords from your address; try again in ${verdict.retryAfterSeconds ?? 60} s`,
          `Trop d’essais manqués depuis votre adresse : réessayez dans ${Math.ceil((verdict.retryAfterSeconds ?? 60) / 60)} min.`,
          true,
          verdict.retryAfterSeconds ?? 60,
        );
      throw err;
    }
  };

  router.post('/admin/pairings', ...options.parseBody, requireSession, async (req: AdminRequest, res) => {
    const session = req.adminSession!;
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      const approved = await approvePairing(req, body.code, body.printerId);
      send(
        res,
        201,
        await renderAdmin(req, session, {
          notice: {
            kind: 'ok',
            text: approved.replaced
              ? `Code accepté : ${approved.machine} devient ${approved.printerId} ; l’ancien agent de ${approved.printerId} est déconnecté. L’imprimante se connecte dans quelques secondes.`
              : `Code accepté : ${approved.machine} devient ${approved.printerId}. L’imprimante se connecte dans quelques secondes.`,
          },
        }),
      );
    } catch (err) {
      if (err instanceof PairingError) {
        if (err.retryAfterSeconds) res.set('Retry-After', String(err.retryAfterSeconds));
        send(res, err.status, await renderAdmin(req, session, { notice: { kind: 'error', text: err.messageFr } }));
        return;
      }
      await pageError(req, res, session, err);
    }
  });

  router.post('/admin/api-keys', ...options.parseBody, requireSession, async (req: AdminRequest, res) => {
    const session = req.adminSession!;
    const name = ((req.body ?? {}) as Record<string, unknown>).name;
    if (typeof name !== 'string' || !API_KEY_NAME_PATTERN.test(name)) {
      const text = 'Nom de clé invalide : 1 à 64 caractères parmi A-Z a-z 0-9 _ . -';
      send(res, 400, await renderAdmin(req, session, { notice: { kind: 'error', text } }));
      return;
    }
    const key = newApiKey();
    if (!(await options.apiKeys.add(name, hashApiKey(key), new Date()))) {
      const text = `Une clé nommée ${name} existe déjà (une clé révoquée garde son nom) : choisissez un autre nom.`;
      send(res, 409, await renderAdmin(req, session, { notice: { kind: 'error', text } }));
      return;
    }
    log.info({ address: req.ip, apiKey: name }, 'API key created on the admin page');
    send(
      res,
      201,
      await renderAdmin(req, session, {
        notice: { kind: 'ok', text: `Clé API ${name} créée.` },
        issuedApiKey: { name, key },
      }),
    );
  });

  router.post('/admin/api-keys/:name/revoke', ...options.parseBody, requireSession, async (req: AdminRequest, res) => {
    const session = req.adminSession!;
    const name = String(req.params.name ?? '');
    if (!(await options.apiKeys.revoke(name, new Date()))) {
      const text = `Aucune clé active nommée ${name.slice(0, 64)}.`;
      send(res, 404, await renderAdmin(req, session, { notice: { kind: 'error', text } }));
      return;
    }
    log.info({ address: req.ip, apiKey: name }, 'API key revoked on the admin page');
    const text = `Clé API ${name} révoquée : ses requêtes reçoivent maintenant 401.`;
    send(res, 200, await renderAdmin(req, session, { notice: { kind: 'ok', text } }));
  });

  // ---- the admin API (JSON): Bearer admin password ----

  const requireBearer = (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
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

  const apiError = (res: Response, err: unknown) => {
    if (!(err instanceof PrinterAdminError)) throw err;
    res.status(err.status).json({ error: err.message, ...err.details });
  };

  router.get('/admin/api/printers', requireBearer, async (_req, res) => {
    res.json(await options.accounts.list());
  });

  router.post('/admin/api/printers', requireBearer, ...options.parseBody, async (req, res) => {
    try {
      const issued = await options.accounts.add(((req.body ?? {}) as Record<string, unknown>).printerId);
      res
        .status(201)
        .set('Cache-Control', 'no-store')
        .json({ ...issued, agentCommand: agentCommand(req, issued.printerId, issued.token) });
    } catch (err) {
      apiError(res, err);
    }
  });

  router.post('/admin/api/printers/:id/rotate', requireBearer, async (req, res) => {
    try {
      const issued = await options.accounts.rotate(req.params.id);
      res
        .set('Cache-Control', 'no-store')
        .json({ ...issued, agentCommand: agentCommand(req, issued.printerId, issued.token) });
    } catch (err) {
      apiError(res, err);
    }
  });

  router.get('/admin/api/pairings', requireBearer, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await options.pairing.pending());
  });

  router.post('/admin/api/pairings', requireBearer, ...options.parseBody, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      res.status(201).json(await approvePairing(req, body.code, body.printerId));
    } catch (err) {
      if (err instanceof PairingError) {
        if (err.retryAfterSeconds) res.set('Retry-After', String(err.retryAfterSeconds));
        res.status(err.status).json({ error: err.message });
        return;
      }
      apiError(res, err);
    }
  });

  router.delete('/admin/api/printers/:id', requireBearer, async (req, res) => {
    try {
      res.json(
        await options.accounts.remove(req.params.id, { force: RemoveQuery.parse(req.query).force !== undefined }),
      );
    } catch (err) {
      apiError(res, err);
    }
  });

  return router;
}

// ---- how GET /openapi.json describes these routes (http/openapi.ts) ----

const AdminPath = z.object({ id: z.string().meta({ description: 'The printer (its MQTT account)' }) });
const AdminForm = z.object({
  csrf: z.string().meta({ description: 'The session’s CSRF token, from the admin page' }),
  formToken: z.string().meta({ description: 'The page’s form token' }),
});

/** The admin page's answers: HTML, with the result or the refusal shown on it. */
const adminPageAnswers = (statuses: Record<number, string>): Partial<Record<number, ApiResponse>> => ({
  ...Object.fromEntries(Object.entries(statuses).map(([status, description]) => [status, { description, html: true }])),
  401: { description: 'No valid session: the login form', html: true },
  403: { description: 'Another site, a missing form token or a forged CSRF token', html: true },
});

const adminApiRefusals = {
  401: {
    ...errorResponse('No or wrong admin password'),
    headers: { 'WWW-Authenticate': { description: 'Bearer realm="printhop admin"' } },
  },
  429: errorResponse('Too many wrong admin passwords from this address', { retryAfter: true }),
} satisfies Partial<Record<number, ApiResponse>>;

const page = { tags: ['admin page'], auth: 'none' } as const;
const api = { tags: ['admin'], auth: 'admin' } as const;

export const adminOperations: ApiOperation[] = [
  {
    ...page,
    method: 'get',
    path: '/admin',
    operationId: 'adminPage',
    summary: 'The admin page (the login form without a session)',
    responses: { 200: { description: 'The page', html: true } },
  },
  {
    ...page,
    method: 'post',
    path: '/admin/login',
    operationId: 'adminLogin',
    summary: 'Log in with ADMIN_PASSWORD: a session cookie',
    body: {
      form: z.object({ password: z.string(), formToken: z.string() }),
    },
    responses: {
      303: { description: 'Logged in: to /admin, with the session cookie' },
      401: { description: 'Wrong password: the login form again', html: true },
      403: { description: 'Another site, or a missing form token', html: true },
      429: { description: 'Too many wrong passwords from this address', html: true },
    },
  },
  {
    ...page,
    method: 'post',
    path: '/admin/logout',
    operationId: 'adminLogout',
    summary: 'Log out',
    body: { form: AdminForm },
    responses: { ...adminPageAnswers({}), 303: { description: 'Logged out: to /admin' } },
  },
  {
    ...page,
    method: 'post',
    path: '/admin/printers',
    operationId: 'adminAddPrinter',
    summary: 'Add a printer: its token and agent command, shown once',
    body: { form: AdminForm.extend({ printerId: z.string() }) },
    responses: adminPageAnswers({ 201: 'Added', 400: 'Invalid id', 409: 'It exists already' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/printers/:id/rotate',
    operationId: 'adminRotatePrinter',
    summary: 'A new token for a printer (the old one is refused at once)',
    params: AdminPath,
    body: { form: AdminForm },
    responses: adminPageAnswers({ 200: 'Rotated', 400: 'Invalid id', 404: 'No such printer' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/printers/:id/remove',
    operationId: 'adminRemovePrinter',
    summary: 'Remove a printer (with `force=true`, even with unfinished jobs)',
    params: AdminPath,
    body: { form: AdminForm.extend({ force: z.literal('true').optional() }) },
    responses: adminPageAnswers({
      200: 'Removed',
      400: 'Invalid id',
      404: 'No such printer',
      409: 'Unfinished jobs: asks for confirmation',
    }),
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/printers',
    operationId: 'adminListPrinters',
    summary: 'The printer registry',
    responses: { 200: { description: 'The printers', json: z.array(PrinterAccount) }, ...adminApiRefusals },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/printers',
    operationId: 'adminApiAddPrinter',
    summary: 'Add a printer: its token, shown once',
    body: { json: z.object({ printerId: PrinterId }) },
    responses: {
      201: { description: 'Added', json: IssuedToken },
      400: errorResponse('Invalid or reserved id, or invalid JSON'),
      409: errorResponse('It exists already'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/printers/:id/rotate',
    operationId: 'adminApiRotatePrinter',
    summary: 'A new token for a printer (the old one is refused at once, its agent disconnected)',
    params: AdminPath,
    responses: {
      200: { description: 'Rotated', json: IssuedToken },
      400: errorResponse('Invalid id'),
      404: errorResponse('No such printer'),
      ...adminApiRefusals,
    },
  },
  {
    ...page,
    method: 'post',
    path: '/admin/pairings',
    operationId: 'adminApprovePairing',
    summary: 'Approve the code an agent printed, for a new or existing printer id',
    body: { form: AdminForm.extend({ code: z.string(), printerId: z.string() }) },
    responses: adminPageAnswers({
      201: 'Approved: the agent receives its token when it next asks',
      400: 'Not 6 digits, or an invalid printer id',
      404: 'No agent waits with this code (counted like a wrong password), or pairing is off',
      409: 'The code was used already',
      410: 'The code has expired',
      429: 'Too many wrong codes or passwords from this address',
    }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/api-keys',
    operationId: 'adminCreateApiKey',
    summary: 'Create an API key: shown once, on the page that answers',
    body: { form: AdminForm.extend({ name: z.string() }) },
    responses: adminPageAnswers({ 201: 'Created', 400: 'Invalid name', 409: 'A key of that name exists' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/api-keys/:name/revoke',
    operationId: 'adminRevokeApiKey',
    summary: 'Revoke an API key: its requests get 401 from now on',
    params: z.object({ name: z.string().meta({ description: 'The key’s name' }) }),
    body: { form: AdminForm },
    responses: adminPageAnswers({ 200: 'Revoked', 404: 'No active key of that name' }),
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/pairings',
    operationId: 'adminListPairings',
    summary: 'Agents waiting for their code to be approved',
    responses: {
      200: { description: 'Pending pairings, oldest first', json: z.array(PendingPairing) },
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/pairings',
    operationId: 'adminApiApprovePairing',
    summary:
      'Approve a pairing code for a printer id (an existing printer’s token is rotated: its old agent is cut off)',
    body: { json: PairingApproval },
    responses: {
      201: { description: 'Approved: the agent receives its token when it next asks', json: ApprovedPairing },
      400: errorResponse('Not 6 digits, an invalid printer id, or invalid JSON'),
      404: errorResponse('No agent waits with this code (counted like a wrong password), or pairing is off'),
      409: errorResponse('The code was used already, or the broker refused the account change'),
      410: errorResponse('The code has expired'),
      ...adminApiRefusals,
      429: errorResponse('Too many wrong codes or passwords from this address', { retryAfter: true }),
    },
  },
  {
    ...api,
    method: 'delete',
    path: '/admin/api/printers/:id',
    operationId: 'adminApiRemovePrinter',
    summary: 'Remove a printer (its agent is disconnected; its unfinished jobs need `force`)',
    params: AdminPath,
    query: RemoveQuery,
    responses: {
      200: { description: 'Removed', json: RemovedPrinter },
      400: errorResponse('Invalid id'),
      404: errorResponse('No such printer'),
      409: {
        description: 'Unfinished jobs (`unfinishedJobs`): send `force=true` to fail them',
        json: ApiError.extend({ printerId: z.string(), unfinishedJobs: z.array(z.number().int()) }),
      },
      ...adminApiRefusals,
    },
  },
];
