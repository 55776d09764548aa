/** API keys on the page, as `npm run api-keys` does: create (shown once), list, revoke. */
import type { Router } from 'express';
import { z } from 'zod';
import { API_KEY_NAME_PATTERN, hashApiKey, newApiKey } from '../api/api-keys';
import type { ApiOperation } from '../api/openapi';
import { bodyFields } from '../api/request-fields';
import { newRouter } from '../api/context';
import { AdminForm, adminPageAnswers, page } from './api-docs';
import type { AdminKit, AdminRequest } from './kit';

export function apiKeyAdminRoutes(kit: AdminKit): Router {
  const router = newRouter();
  const { options, log } = kit;
  const form = [...options.parseBody, kit.requireSession];

  router.post('/admin/api-keys', ...form, async (req: AdminRequest, res) => {
    const name = bodyFields(req).name;
    if (typeof name !== 'string' || !API_KEY_NAME_PATTERN.test(name))
      return kit.notice(req, res, 400, 'error', 'Nom de clé invalide : 1 à 64 caractères parmi A-Z a-z 0-9 _ . -');
    const key = newApiKey();
    if (!(await options.apiKeys.add(name, hashApiKey(key), new Date())))
      return kit.notice(
        req,
        res,
        409,
        'error',
        `Une clé nommée ${name} existe déjà (une clé révoquée garde son nom) : choisissez un autre nom.`,
      );
    log.info({ address: req.ip, apiKey: name }, 'API key created on the admin page');
    await kit.notice(req, res, 201, 'ok', `Clé API ${name} créée.`, { issuedApiKey: { name, key } });
  });

  router.post('/admin/api-keys/:name/revoke', ...form, async (req: AdminRequest, res) => {
    const name = String(req.params.name ?? '');
    if (!(await options.apiKeys.revoke(name, new Date())))
      return kit.notice(req, res, 404, 'error', `Aucune clé active nommée ${name.slice(0, 64)}.`);
    log.info({ address: req.ip, apiKey: name }, 'API key revoked on the admin page');
    await kit.notice(req, res, 200, 'ok', `Clé API ${name} révoquée : ses requêtes reçoivent maintenant 401.`);
  });

  return router;
}

export const apiKeyAdminOperations: ApiOperation[] = [
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
];
