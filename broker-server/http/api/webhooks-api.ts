/** `GET /webhooks/deliveries`: what was sent to the webhook endpoints, newest first, with filters and a cursor (as GET /jobs). */
import type { Router } from 'express';
import { z } from 'zod';
import { DELIVERY_STATUSES } from '../../store/webhook-store';
import { WebhookDelivery } from './api-schemas';
import { HttpError } from '../guards/errors';
import { type ApiOperation, errorResponse } from './openapi';
import { decodeCursor, encodeCursor, MAX_LIST_LIMIT } from './validation';
import { newRouter, type RouteContext } from './context';

const wholeNumber = (name: string, max: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/, `"${name}" must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(1, `"${name}" must be at least 1`).max(max, `"${name}" must be at most ${max}`));

export const deliveryListQuery = z
  .object({
    status: z.enum(DELIVERY_STATUSES, { error: `"status" must be one of ${DELIVERY_STATUSES.join(', ')}` }).optional(),
    endpointId: wholeNumber('endpointId', Number.MAX_SAFE_INTEGER).optional(),
    limit: wholeNumber('limit', MAX_LIST_LIMIT).default(50),
    cursor: z
      .string()
      .transform((s, ctx) => {
        const id = decodeCursor(s);
        if (id === null)
          ctx.addIssue({
            code: 'custom',
            message: '"cursor" is not one this server gave (take it from the Link header of the previous page)',
          });
        return id ?? 0;
      })
      .optional(),
  })
  .strict();

export function webhookRoutes(ctx: RouteContext): Router {
  const router = newRouter();

  router.get('/webhooks/deliveries', ctx.requireApiKey, async (req, res) => {
    const parsed = deliveryListQuery.safeParse(req.query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? issue.keys[0] : String(issue.path[0] ?? '');
      const error =
        issue.code === 'unrecognized_keys'
          ? `unknown query parameter ${issue.keys.map((k) => `"${k}"`).join(', ')}; known: status, endpointId, limit, cursor`
          : issue.message;
      throw new HttpError(400, error, { field });
    }
    const { status, endpointId, limit, cursor } = parsed.data;
    const rows = await ctx.webhooks.deliveries({ status, endpointId, beforeId: cursor, limit: limit + 1 });
    const page = rows.slice(0, limit);
    if (rows.length > page.length) {
      const next = new URLSearchParams(
        Object.entries(req.query as Record<string, string>).filter(([name]) => name !== 'cursor'),
      );
      next.set('cursor', encodeCursor(page.at(-1)!.id));
      res.set('Link', `</webhooks/deliveries?${next.toString()}>; rel="next"`);
    }
    res.json(page);
  });

  return router;
}

/** How GET /openapi.json describes these routes (http/api/openapi.ts). */
export const webhookOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/webhooks/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'Webhook deliveries, newest first, a page at a time',
    description:
      'What was sent (or is waiting to be sent) to the endpoints added with `npm run webhooks -- add URL`; never the payload or the secret. When there are more, the `Link` header gives the next page (`rel="next"`).',
    tags: ['webhooks'],
    auth: 'apiKey',
    query: deliveryListQuery,
    responses: {
      200: {
        description: 'A page of deliveries',
        json: z.array(WebhookDelivery),
        headers: {
          Link: {
            description: 'The next page when there is one: `</webhooks/deliveries?...&cursor=...>; rel="next"`',
            schema: z.string().regex(/^<\/webhooks\/deliveries\?[^>]*>; rel="next"$/),
          },
        },
      },
      400: errorResponse('A filter is invalid or unknown (the field says which)'),
    },
  },
];
