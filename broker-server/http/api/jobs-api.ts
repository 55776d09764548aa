/** Jobs: send a message (from the page or the API), print one again, list and read them. */
import type { Router } from 'express';
import { z } from 'zod';
import { Job } from './api-schemas';
import { HttpError } from '../guards/errors';
import { bodyKind } from '../guards/request-kind';
import { type ApiOperation, errorResponse } from './openapi';
import {
  encodeCursor,
  JobId,
  JobListQuery,
  parseJobId,
  PrintRequest,
  validateJobListQuery,
  validatePrintRequest,
} from './validation';
import { newRouter, type RouteContext } from './context';
import { createOnce, CreationHeaders, creationResponses, NoInputBody, PageFormFields } from './create-once';
import { PRINT_KEY_FIELD, reprintKeyField } from './idempotency';

export function jobRoutes(ctx: RouteContext): Router {
  const router = newRouter();

  router.post('/print', ...ctx.parseBody, ctx.requireApiKey, ctx.crossSite, ctx.limitJobCreation, async (req, res) => {
    if (bodyKind(req) === 'other') {
      throw new HttpError(
        415,
        'send the message as application/json ({"content": "..."}) or as a form (application/x-www-form-urlencoded)',
      );
    }
    const checked = validatePrintRequest(req.body);
    if (!checked.ok)
      throw new HttpError(400, checked.error, checked.field ? { field: checked.field } : {}, checked.errorFr);
    // A known printer, and a receipt that fits its paper as the agent will lay it out: refused whole, never cut.
    const printerId = await ctx.intake.check(checked.value.printerId, checked.value.content);
    const { content } = checked.value;
    await createOnce(ctx, req, res, { body: { content, printerId }, keyField: PRINT_KEY_FIELD }, (createdBy) =>
      ctx.intake.print(printerId, content, createdBy),
    );
  });

  router.post(
    '/jobs/:id/reprint',
    ...ctx.parseBody,
    ctx.requireApiKey,
    ctx.crossSite,
    ctx.limitJobCreation,
    async (req, res) => {
      const id = parseJobId(req.params.id);
      if (id === null)
        throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`, {}, 'Cette tâche n’existe pas.');
      await createOnce(ctx, req, res, { body: {}, keyField: reprintKeyField(id) }, (createdBy) =>
        ctx.intake.reprint(id, createdBy),
      );
    },
  );

  router.get('/jobs', ctx.requireApiKey, async (req, res) => {
    const query = validateJobListQuery(req.query as Record<string, unknown>);
    if (!query.ok) throw new HttpError(400, query.error, { field: query.field });
    // One more than asked tells whether there is a next page: its cursor goes in the Link header.
    const jobs = await ctx.jobs.queries.list({ ...query.value, limit: query.value.limit + 1 });
    const page = jobs.slice(0, query.value.limit);
    if (jobs.length > page.length) {
      const next = new URLSearchParams(
        Object.entries(req.query as Record<string, string>).filter(([name]) => name !== 'cursor'),
      );
      next.set('cursor', encodeCursor(page.at(-1)!.id));
      res.set('Link', `</jobs?${next.toString()}>; rel="next"`);
    }
    res.json(page);
  });

  router.get('/jobs/:id', ctx.requireApiKey, async (req, res) => {
    const id = parseJobId(req.params.id);
    const job = id === null ? null : await ctx.jobs.queries.get(id);
    if (!job) throw new HttpError(404, `no job with id ${JSON.stringify(req.params.id)}`);
    res.json(job);
  });

  return router;
}

const JobPath = z.object({ id: JobId });

/** How GET /openapi.json describes these routes (http/api/openapi.ts). */
export const jobOperations: ApiOperation[] = [
  {
    method: 'post',
    path: '/print',
    operationId: 'print',
    summary: 'Send a message to print',
    description:
      'Stores the job, then hands it to its printer; the answer comes once it is stored. A receipt longer than RECEIPT_MAX_LINES on the printer’s paper is refused whole (400).',
    tags: ['jobs'],
    auth: 'apiKey',
    headers: CreationHeaders,
    body: { json: PrintRequest, form: PrintRequest.extend(PageFormFields).meta({ id: 'PrintForm' }) },
    responses: {
      ...creationResponses(),
      422: errorResponse(
        'Unknown printer (`knownPrinters` lists the known ones), or an Idempotency-Key already used for a different request',
        { html: true },
      ),
    },
  },
  {
    method: 'post',
    path: '/jobs/:id/reprint',
    operationId: 'reprintJob',
    summary: 'Print a job again (a new job pointing to it)',
    description: 'Only a printed, failed or interrupted job can be printed again.',
    tags: ['jobs'],
    auth: 'apiKey',
    params: JobPath,
    headers: CreationHeaders,
    body: NoInputBody,
    responses: {
      ...creationResponses(),
      404: errorResponse('No such job', { html: true }),
      409: errorResponse(
        'The job is not printed, failed or interrupted; or a request with this Idempotency-Key is still being processed',
        { html: true },
      ),
    },
  },
  {
    method: 'get',
    path: '/jobs',
    operationId: 'listJobs',
    summary: 'List jobs, newest first, a page at a time',
    description:
      'Filters combine. When there are more, the `Link` header gives the next page (`rel="next"`): follow it as it is until there is no `Link`.',
    tags: ['jobs'],
    auth: 'apiKey',
    query: JobListQuery,
    responses: {
      200: {
        description: 'A page of jobs',
        json: z.array(Job),
        headers: {
          Link: {
            description: 'The next page when there is one: `</jobs?...&cursor=...>; rel="next"`',
            schema: z.string().regex(/^<\/jobs\?[^>]*>; rel="next"$/),
          },
        },
      },
      400: errorResponse('A filter is invalid (the field says which)'),
    },
  },
  {
    method: 'get',
    path: '/jobs/:id',
    operationId: 'getJob',
    summary: 'One job',
    tags: ['jobs'],
    auth: 'apiKey',
    params: JobPath,
    responses: { 200: { description: 'The job', json: Job }, 404: errorResponse('No such job') },
  },
];
