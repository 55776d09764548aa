/** Printers: the list, and a test print. */
import type { Router } from 'express';
import { z } from 'zod';
import { Printer } from './api-schemas';
import { HttpError } from '../guards/errors';
import { type ApiOperation, errorResponse } from './openapi';
import { PrinterId } from './validation';
import { newRouter, type RouteContext } from './context';
import { testKeyField } from './idempotency';
import { createOnce, CreationHeaders, creationResponses, NoInputBody } from './create-once';

const PrinterPath = z.object({ id: PrinterId });

export function printerRoutes(ctx: RouteContext): Router {
  const router = newRouter();

  router.post(
    '/printers/:id/test',
    ...ctx.parseBody,
    ctx.requireApiKey,
    ctx.crossSite,
    ctx.limitJobCreation,
    async (req, res) => {
      const path = PrinterPath.safeParse(req.params);
      if (!path.success || !(await ctx.printers.isKnown(path.data.id)))
        throw new HttpError(404, `no printer ${JSON.stringify(req.params.id)}`);
      const printerId = path.data.id;
      await createOnce(ctx, req, res, { body: {}, keyField: testKeyField(printerId) }, (createdBy) =>
        ctx.intake.testPrint(printerId, createdBy),
      );
    },
  );

  router.get('/printers', ctx.requireApiKey, async (_req, res) => {
    res.json(await ctx.printers.list());
  });

  return router;
}

/** How GET /openapi.json describes these routes (http/api/openapi.ts). */
export const printerOperations: ApiOperation[] = [
  {
    method: 'post',
    path: '/printers/:id/test',
    operationId: 'testPrint',
    summary: 'Print the test receipt on a printer',
    tags: ['printers'],
    auth: 'apiKey',
    params: PrinterPath,
    headers: CreationHeaders,
    body: NoInputBody,
    responses: { ...creationResponses(), 404: errorResponse('No such printer', { html: true }) },
  },
  {
    method: 'get',
    path: '/printers',
    operationId: 'listPrinters',
    summary: 'The printers: configured ones and those whose agent has been seen, with their state',
    tags: ['printers'],
    auth: 'apiKey',
    responses: { 200: { description: 'The printers', json: z.array(Printer) } },
  },
];
