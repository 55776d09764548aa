/**
 * The admin section: the fleet run from the page (/admin, a login form, a session cookie, a CSRF token in every
 * form) and from the admin API (/admin/api/..., `Authorization: Bearer <admin password>`, used by
 * `npm run printers`). Wrong passwords from one address lock it out for a while, whichever door. One router
 * per section (login, printers, pairings, API keys, webhooks), sharing the guards of kit.ts.
 */
import type { Router } from 'express';
import type { ApiOperation } from '../api/openapi';
import { newRouter } from '../api/context';
import { apiKeyAdminOperations, apiKeyAdminRoutes } from './api-keys';
import { adminKit, type AdminRouteOptions } from './kit';
import { loginOperations, loginRoutes } from './login';
import { pairingAdminOperations, pairingAdminRoutes } from './pairings';
import { printerOperations, printerRoutes } from './printers';
import { webhookAdminOperations, webhookAdminRoutes } from './webhooks';

export { ADMIN_COOKIE, type AdminRouteOptions } from './kit';

export function adminRoutes(options: AdminRouteOptions): Router {
  const kit = adminKit(options);
  const router = newRouter();
  for (const section of [loginRoutes, printerRoutes, pairingAdminRoutes, apiKeyAdminRoutes, webhookAdminRoutes])
    router.use(section(kit));
  return router;
}

/** How GET /openapi.json describes these routes (http/openapi.ts). */
export const adminOperations: ApiOperation[] = [
  ...loginOperations,
  ...printerOperations,
  ...pairingAdminOperations,
  ...apiKeyAdminOperations,
  ...webhookAdminOperations,
];
