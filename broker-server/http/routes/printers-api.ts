/** Printers: the list, and a test print. */
import express, { type Router } from 'express';
import { isPrinterId } from '../../../protocol/topics';
import { HttpError } from '../errors';
import type { RouteContext } from './context';
import { createOnce } from './create-once';
import { testKeyField } from '../views';

export function printerRoutes(ctx: RouteContext): Router {
  const router = express.Router();

  router.post('/printers/:id/test', ...ctx.parseBody, ctx.crossSite, ctx.limitJobCreation, async (req, res) => {
    const printerId = req.params.id;
    if (!isPrinterId(printerId) || !(await ctx.printers.isKnown(printerId)))
      throw new HttpError(404, `no printer ${JSON.stringify(printerId)}`);
    await createOnce(ctx, req, res, { body: {}, keyField: testKeyField(printerId) }, (createdBy) =>
      ctx.intake.testPrint(printerId, createdBy),
    );
  });

  router.get('/printers', async (_req, res) => {
    res.json(await ctx.printers.list());
  });

  return router;
}
