/** Jobs: send a message (from the page or the API), print one again, list and read them. */
import express, { type Router } from 'express';
import { HttpError } from '../errors';
import { accepted } from '../responses';
import { parseJobId, validateJobListQuery, validatePrintRequest } from '../validation';
import type { RouteContext } from './context';
import { preview, refuseTooLong } from './page';

export function jobRoutes(ctx: RouteContext): Router {
  const router = express.Router();

  router.post('/print', ...ctx.parseBody, ctx.crossSite, ctx.limitJobCreation, async (req, res) => {
    if (!req.is('application/json') && !req.is('application/x-www-form-urlencoded')) {
      throw new HttpError(415, 'send the message as application/json ({"content": "..."}) or as a form (application/x-www-form-urlencoded)');
    }
    const checked = validatePrintRequest(req.body);
    if (!checked.ok) throw new HttpError(400, checked.error, checked.field ? { field: checked.field } : {}, checked.errorFr);
    const printerId = checked.value.printerId ?? ctx.defaultPrinterId;
    if (!(await ctx.printers.isKnown(printerId))) {
      const known = (await ctx.printers.list()).map((p) => p.id);
      throw new HttpError(422, `unknown printer "${printerId}"; known printers: ${known.join(', ')}`, { field: 'printerId', knownPrinters: known }, `L’imprimante « ${printerId} » est inconnue. Imprimantes connues : ${known.join(', ')}.`);
    }
    // Laid out for this printer's paper, as the agent will: refused whole, never cut.
    refuseTooLong(await preview(ctx, checked.value.content, printerId), ctx.receiptMaxLines);
    accepted(req, res, await ctx.intake.print(printerId, checked.value.content));
  });

  router.post('/jobs/:id/reprint', ...ctx.parseBody, ctx.crossSite, ctx.limitJobCreation, async (req, res) => {
    const id = parseJobId(req.params.id);
    if (id === null) throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`, {}, 'Cette tâche n’existe pas.');
    accepted(req, res, await ctx.intake.reprint(id));
  });

  router.get('/jobs', async (req, res) => {
    const query = validateJobListQuery(req.query as Record<string, unknown>);
    if (!query.ok) throw new HttpError(400, query.error, { field: query.field });
    res.json(await ctx.jobs.list(query.value));
  });

  router.get('/jobs/:id', async (req, res) => {
    const id = parseJobId(req.params.id);
    const job = id === null ? null : await ctx.jobs.get(id);
    if (!job) throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`);
    res.json(job);
  });

  return router;
}
