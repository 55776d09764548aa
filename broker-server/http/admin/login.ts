/** The admin page itself, logging in (a session cookie) and out. */
import type { Response, Router } from 'express';
import { z } from 'zod';
import type { ApiOperation } from '../api/openapi';
import { bodyFields } from '../api/request-fields';
import { newRouter } from '../api/context';
import { AdminForm, adminPageAnswers, page } from './api-docs';
import { ADMIN_COOKIE, type AdminKit, type AdminRequest, cookieOf } from './kit';

export function loginRoutes(kit: AdminKit): Router {
  const router = newRouter();
  const { options, log, send, login } = kit;

  router.get('/admin', async (req, res) => {
    const id = cookieOf(req, ADMIN_COOKIE);
    const status = options.sessions.status(id);
    const session = options.sessions.get(id);
    if (!session) {
      send(res, 200, login(status === 'expired' ? 'Votre session a expiré : reconnectez-vous.' : null));
      return;
    }
    send(res, 200, await kit.render(req, session));
  });

  router.post('/admin/login', ...options.parseBody, (req, res) => {
    if (kit.refuseCrossSite(req, res)) return;
    const given = bodyFields(req).password;
    const verdict = options.throttle.attempt(
      req.ip ?? 'unknown',
      typeof given === 'string' ? given : '',
      options.password,
    );
    if (!verdict.ok) {
      log.warn({ address: req.ip, reason: verdict.reason }, 'admin login refused');
      refuseLogin(kit, res, verdict.reason, verdict.retryAfterSeconds);
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

  router.post('/admin/logout', ...options.parseBody, kit.requireSession, (req: AdminRequest, res) => {
    options.sessions.destroy(req.adminSession!.id);
    res.clearCookie(ADMIN_COOKIE, { path: '/admin' });
    res.redirect(303, '/admin');
  });

  return router;
}

function refuseLogin(kit: AdminKit, res: Response, reason: string | undefined, retryAfterSeconds?: number): void {
  if (reason === 'locked') {
    res.set('Retry-After', String(retryAfterSeconds ?? 60));
    kit.send(
      res,
      429,
      kit.login(
        `Trop d’essais manqués depuis votre adresse : réessayez dans ${Math.ceil((retryAfterSeconds ?? 60) / 60)} min.`,
      ),
    );
  } else if (reason === 'no-password') kit.send(res, 401, kit.login('Entrez le mot de passe d’administration.'));
  else kit.send(res, 401, kit.login('Mot de passe incorrect.'));
}

export const loginOperations: ApiOperation[] = [
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
];
