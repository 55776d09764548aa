/**
 * Webhooks from the admin section, as `npm run webhooks` does: add (the signing secret shown once, never again,
 * never logged), list, remove, the delivery log with each attempt, and "retry now" on a waiting or failed delivery.
 * On the page (forms) and in the admin API (JSON).
 */
import type { Response, Router } from 'express';
import { z } from 'zod';
import { urlForLog } from '../../../runtime/logger';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/webhook-events';
import { type WebhookAdmin, WebhookAdminError } from '../../webhooks/webhook-admin';
import { ATTEMPT_OUTCOMES } from '../../store/webhook-store';
import { WebhookDelivery } from '../api/api-schemas';
import { type ApiOperation, errorResponse } from '../api/openapi';
import { bodyFields } from '../api/request-fields';
import { newRouter } from '../api/context';
import { deliveryListQuery } from '../api/webhooks-api';
import { AdminForm, adminApiRefusals, adminPageAnswers, api, page } from './api-docs';
import type { AdminKit, AdminRequest } from './kit';

const ID = /^[1-9]\d{0,14}$/;
const idOf = (text: unknown): number | null => (typeof text === 'string' && ID.test(text) ? Number(text) : null);

/** The webhook admin, or a 404 when this server was built without one. */
function webhooksOf(kit: AdminKit): WebhookAdmin {
  if (!kit.options.webhooks)
    throw new WebhookAdminError(404, 'webhooks are not set up here', 'Webhooks indisponibles.');
  return kit.options.webhooks;
}

/** A refusal of the webhook admin on the page or in the API; anything else is unexpected. */
function refusal(err: unknown): WebhookAdminError {
  if (err instanceof WebhookAdminError) return err;
  throw err;
}

export function webhookAdminRoutes(kit: AdminKit): Router {
  const router = newRouter();
  webhookPage(kit, router);
  webhookApi(kit, router);
  return router;
}

function webhookPage(kit: AdminKit, router: Router): void {
  const form = [...kit.options.parseBody, kit.requireSession];
  const fail = (req: AdminRequest, res: Response, err: unknown) => {
    const e = refusal(err);
    return kit.notice(req, res, e.status, 'error', e.messageFr);
  };

  router.post('/admin/webhooks', ...form, async (req: AdminRequest, res) => {
    const { url, events } = bodyFields(req);
    try {
      const { endpoint, secret } = await webhooksOf(kit).add(url, events);
      kit.log.info(
        { address: req.ip, endpointId: endpoint.id, endpoint: urlForLog(endpoint.url) },
        'webhook added on the admin page',
      );
      const issuedWebhook = { id: endpoint.id, url: endpoint.url, secret };
      await kit.notice(req, res, 201, 'ok', `Webhook ${endpoint.id} ajouté.`, { issuedWebhook });
    } catch (err) {
      await fail(req, res, err);
    }
  });

  router.post('/admin/webhooks/:id/remove', ...form, async (req: AdminRequest, res) => {
    try {
      const id = idOf(req.params.id);
      if (id === null) throw new WebhookAdminError(404, 'no such webhook', 'Aucun webhook de ce numéro.');
      await webhooksOf(kit).remove(id);
      kit.log.info({ address: req.ip, endpointId: id }, 'webhook removed on the admin page');
      await kit.notice(req, res, 200, 'ok', `Webhook ${id} supprimé ; ses livraisons en attente passent en échec.`);
    } catch (err) {
      await fail(req, res, err);
    }
  });

  router.post('/admin/webhooks/deliveries/:id/retry', ...form, async (req: AdminRequest, res) => {
    try {
      const id = idOf(req.params.id);
      if (id === null) throw new WebhookAdminError(404, 'no such delivery', 'Aucune livraison de ce numéro.');
      await webhooksOf(kit).retryNow(id);
      kit.log.info({ address: req.ip, deliveryId: id }, 'webhook delivery retried now from the admin page');
      await kit.notice(
        req,
        res,
        200,
        'ok',
        `Livraison ${id} : nouvel essai lancé. Rechargez la page pour voir son résultat.`,
      );
    } catch (err) {
      await fail(req, res, err);
    }
  });
}

function webhookApi(kit: AdminKit, router: Router): void {
  const { requireBearer, options } = kit;
  const fail = (res: Response, err: unknown) => {
    const e = refusal(err);
    res.status(e.status).json({ error: e.message, ...(e.field ? { field: e.field } : {}) });
  };
  const withId = (text: unknown, res: Response): number | null => {
    const id = idOf(text);
    if (id === null) res.status(400).json({ error: '"id" must be a whole number from 1', field: 'id' });
    return id;
  };

  router.get('/admin/api/webhooks', requireBearer, async (_req, res) => {
    try {
      res.set('Cache-Control', 'no-store').json(await webhooksOf(kit).endpoints(true));
    } catch (err) {
      fail(res, err);
    }
  });

  router.post('/admin/api/webhooks', requireBearer, ...options.parseBody, async (req, res) => {
    const { url, events } = bodyFields(req);
    try {
      const { endpoint, secret } = await webhooksOf(kit).add(url, events);
      kit.log.info(
        { address: req.ip, endpointId: endpoint.id, endpoint: urlForLog(endpoint.url) },
        'webhook added through the admin API',
      );
      res
        .status(201)
        .set('Cache-Control', 'no-store')
        .json({ ...endpoint, secret });
    } catch (err) {
      fail(res, err);
    }
  });

  router.delete('/admin/api/webhooks/:id', requireBearer, async (req, res) => {
    const id = withId(req.params.id, res);
    if (id === null) return;
    try {
      await webhooksOf(kit).remove(id);
      kit.log.info({ address: req.ip, endpointId: id }, 'webhook removed through the admin API');
      res.status(204).end();
    } catch (err) {
      fail(res, err);
    }
  });

  webhookLogApi(kit, router, fail, withId);
}

function webhookLogApi(
  kit: AdminKit,
  router: Router,
  fail: (res: Response, err: unknown) => void,
  withId: (text: unknown, res: Response) => number | null,
): void {
  router.get('/admin/api/webhooks/deliveries', kit.requireBearer, async (req, res) => {
    const parsed = deliveryListQuery.safeParse(req.query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      res.status(400).json({ error: issue.message, field: String(issue.path[0] ?? '') });
      return;
    }
    const { status, endpointId, limit, cursor } = parsed.data;
    try {
      res
        .set('Cache-Control', 'no-store')
        .json(await webhooksOf(kit).deliveries({ status, endpointId, beforeId: cursor, limit }));
    } catch (err) {
      fail(res, err);
    }
  });

  router.get('/admin/api/webhooks/deliveries/:id/attempts', kit.requireBearer, async (req, res) => {
    const id = withId(req.params.id, res);
    if (id === null) return;
    try {
      res.set('Cache-Control', 'no-store').json(await webhooksOf(kit).attempts({ deliveryId: id, limit: 500 }));
    } catch (err) {
      fail(res, err);
    }
  });

  router.post('/admin/api/webhooks/deliveries/:id/retry', kit.requireBearer, async (req, res) => {
    const id = withId(req.params.id, res);
    if (id === null) return;
    try {
      await webhooksOf(kit).retryNow(id);
      kit.log.info({ address: req.ip, deliveryId: id }, 'webhook delivery retried now through the admin API');
      res.status(202).json({ id, status: 'pending' });
    } catch (err) {
      fail(res, err);
    }
  });
}

// ---- how GET /openapi.json describes these routes ----

const time = z.iso.datetime();
const eventType = z.enum(WEBHOOK_EVENT_TYPES);

const WebhookEndpointSchema = z
  .object({
    id: z.number().int().positive(),
    url: z.string(),
    events: z.string().meta({ description: '`*` (every event) or event types, comma separated' }),
    lastEventId: z.number().int().min(0).meta({ description: 'The last job event queued for it' }),
    createdAt: time,
    removedAt: time.nullable(),
  })
  .meta({ id: 'WebhookEndpoint' });

const AddedWebhook = WebhookEndpointSchema.extend({
  secret: z
    .string()
    .meta({ description: 'The signing secret (`whsec_…`, Standard Webhooks): shown this once, never again' }),
}).meta({ id: 'AddedWebhook' });

const WebhookAttemptSchema = z
  .object({
    id: z.number().int().positive(),
    deliveryId: z.number().int().positive(),
    endpointId: z.number().int().positive(),
    attempt: z.number().int().positive().meta({ description: 'The delivery’s attempt number' }),
    at: time.meta({ description: 'When the attempt began' }),
    durationMs: z.number().int().min(0),
    statusCode: z.number().int().nullable().meta({ description: 'The receiver’s HTTP status; null: no answer' }),
    error: z.string().nullable().meta({ description: 'Why it failed (a status, a network error, a timeout)' }),
    outcome: z.enum(ATTEMPT_OUTCOMES),
    nextAttemptAt: time.nullable().meta({ description: 'When it was to be tried again (`retry`)' }),
  })
  .meta({ id: 'WebhookAttempt' });

const NewWebhook = z.object({
  url: z.url().meta({ description: 'The receiver: http:// or https://, without user name or password' }),
  events: z
    .union([z.array(eventType).min(1), z.string()])
    .optional()
    .meta({ description: 'Event types (a list, or `*` / a comma-separated string); absent: every event' }),
});

const IdPath = (what: string) => z.object({ id: z.string().regex(ID).meta({ description: what }) });

export const webhookAdminOperations: ApiOperation[] = [
  {
    ...page,
    method: 'post',
    path: '/admin/webhooks',
    operationId: 'adminAddWebhook',
    summary: 'Add a webhook: its signing secret shown once, on the page that answers',
    body: { form: AdminForm.extend({ url: z.string(), events: z.array(eventType).optional() }) },
    responses: adminPageAnswers({ 201: 'Added', 400: 'An invalid or refused URL, or unknown event types' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/webhooks/:id/remove',
    operationId: 'adminRemoveWebhook',
    summary: 'Remove a webhook: its waiting deliveries end `failed`',
    params: IdPath('The webhook endpoint'),
    body: { form: AdminForm },
    responses: adminPageAnswers({ 200: 'Removed', 404: 'No active webhook of that number' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/webhooks/deliveries/:id/retry',
    operationId: 'adminRetryWebhookDelivery',
    summary: 'Retry a waiting or failed delivery now',
    params: IdPath('The delivery'),
    body: { form: AdminForm },
    responses: adminPageAnswers({
      200: 'Tried again now',
      404: 'No such delivery',
      409: 'Delivered already, under way, its payload dropped or its webhook removed',
    }),
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/webhooks',
    operationId: 'adminListWebhooks',
    summary: 'Webhook endpoints, removed ones included (never their secret)',
    responses: { 200: { description: 'The endpoints', json: z.array(WebhookEndpointSchema) }, ...adminApiRefusals },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/webhooks',
    operationId: 'adminApiAddWebhook',
    summary: 'Add a webhook: its signing secret, shown this once',
    body: { json: NewWebhook },
    responses: {
      201: { description: 'Added', json: AddedWebhook },
      400: errorResponse('An invalid or refused URL, unknown event types, or invalid JSON'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'delete',
    path: '/admin/api/webhooks/:id',
    operationId: 'adminApiRemoveWebhook',
    summary: 'Remove a webhook: its waiting deliveries end `failed`',
    params: IdPath('The webhook endpoint'),
    responses: {
      204: { description: 'Removed' },
      400: errorResponse('Not a whole number'),
      404: errorResponse('No active webhook of that number'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/webhooks/deliveries',
    operationId: 'adminListWebhookDeliveries',
    summary: 'Webhook deliveries, newest first (as GET /webhooks/deliveries, with the admin password)',
    query: deliveryListQuery,
    responses: {
      200: { description: 'The deliveries', json: z.array(WebhookDelivery) },
      400: errorResponse('A filter is invalid or unknown (the field says which)'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/webhooks/deliveries/:id/attempts',
    operationId: 'adminListWebhookAttempts',
    summary: 'The delivery log of one delivery: each attempt, newest first',
    params: IdPath('The delivery'),
    responses: {
      200: { description: 'Its attempts', json: z.array(WebhookAttemptSchema) },
      400: errorResponse('Not a whole number'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/webhooks/deliveries/:id/retry',
    operationId: 'adminApiRetryWebhookDelivery',
    summary: 'Retry a waiting or failed delivery now',
    params: IdPath('The delivery'),
    responses: {
      202: {
        description: 'Due now: the dispatcher sends it',
        json: z.object({ id: z.number().int().positive(), status: z.literal('pending') }),
      },
      400: errorResponse('Not a whole number'),
      404: errorResponse('No such delivery'),
      409: errorResponse('Delivered already, under way, its payload dropped or its webhook removed'),
      ...adminApiRefusals,
    },
  },
];
