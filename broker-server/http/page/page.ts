/** The page, its fragments and its static files. */
import { createRequire } from 'node:module';
import express, { type Router } from 'express';
import { z } from 'zod';
import { MAX_CONTENT_LENGTH } from '../../../protocol/messages';
import { HttpError } from '../guards/errors';
import { type ApiOperation, errorResponse } from '../api/openapi';
import { frenchNumber, JobId } from '../api/validation';
import { PageFormFields } from '../api/create-once';
import { page, PAGE_JOB_COUNT, type PageState, receiptPreview } from './views';
import { newRouter, type RouteContext } from '../api/context';

const require = createRequire(import.meta.url);
// htmx and the two extensions the page uses, straight from node_modules (never a CDN).
// A Map, not a plain object: `/vendor/constructor` must not find Object's own properties.
const VENDOR_FILES = new Map<string, string>([
  ['htmx.min.js', require.resolve('htmx.org/dist/htmx.min.js')],
  ['hx-sse.min.js', require.resolve('htmx.org/dist/ext/hx-sse.min.js')],
  ['hx-upsert.min.js', require.resolve('htmx.org/dist/ext/hx-upsert.min.js')],
]);

/** The page's query: a job just sent by a form without JavaScript; anything else in it is ignored. */
const PageQuery = z.object({
  sent: JobId.optional()
    .catch(undefined)
    .meta({ description: 'A job just sent from the form (without JavaScript): the page confirms it' }),
});

/** What the preview is asked for, as the form is being typed: never refused for its form, only for its size. */
const PreviewRequest = z
  .object({
    content: z.string().catch('').meta({ description: 'The text as typed so far' }),
    printerId: z.string().optional().catch(undefined).meta({ description: 'The printer chosen; unknown: the default' }),
  })
  .catch({ content: '', printerId: undefined });

export type PageRenderer = (
  state: Omit<PageState, 'jobs' | 'printers' | 'defaultPrinterId' | 'preview'>,
) => Promise<string>;

export function pageRenderer(ctx: RouteContext): PageRenderer {
  return async (state) => {
    const [recent, printers, receipt] = await Promise.all([
      ctx.jobs.queries.list({ limit: PAGE_JOB_COUNT }),
      ctx.printers.list(),
      ctx.intake.layout(state.content ?? '', state.printerId),
    ]);
    return page({
      ...state,
      jobs: recent,
      printers,
      defaultPrinterId: ctx.defaultPrinterId,
      preview: receipt,
      formToken: ctx.formTokens.issue(),
    }).value;
  };
}

export function pageRoutes(ctx: RouteContext, renderPage: PageRenderer): Router {
  const router = newRouter();

  router.use('/static', express.static(ctx.publicDir, { maxAge: '1h' }));
  router.get('/vendor/:file', (req, res, next) => {
    const file = VENDOR_FILES.get(String(req.params.file));
    if (file) res.sendFile(file, { maxAge: '1d' });
    else next();
  });

  router.get('/', async (req, res) => {
    const { sent } = PageQuery.parse(req.query);
    const sentJob = sent ? await ctx.jobs.queries.get(sent) : null;
    res.type('html').send(await renderPage({ sentJob }));
  });

  // No more work than a job: the same character cap before any layout, the same line cap after.
  router.post('/fragments/preview', ctx.limitPreviews, ...ctx.parseBody, ctx.crossSite, async (req, res) => {
    const { content, printerId } = PreviewRequest.parse(req.body);
    const length = [...content].length;
    if (length > MAX_CONTENT_LENGTH) {
      throw new HttpError(
        400,
        `the message is ${length} characters long; the limit is ${MAX_CONTENT_LENGTH}`,
        { field: 'content' },
        `Le message fait ${frenchNumber(length)} caractères : la limite est de ${frenchNumber(MAX_CONTENT_LENGTH)}. Raccourcissez-le.`,
      );
    }
    const receipt = await ctx.intake.layout(content, printerId);
    ctx.intake.checkLength(receipt);
    res.type('html').send(receiptPreview(receipt).value);
  });

  return router;
}

/** How GET /openapi.json describes these routes (http/api/openapi.ts): the page, for browsers. */
export const pageOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/',
    operationId: 'page',
    summary: 'The page: the form, the printers and the latest jobs',
    tags: ['page'],
    auth: 'apiKeyOptional',
    query: PageQuery,
    responses: { 200: { description: 'The page', html: true } },
  },
  {
    method: 'post',
    path: '/fragments/preview',
    operationId: 'preview',
    summary: 'The receipt as the printer would print it (htmx fragment)',
    tags: ['page'],
    auth: 'apiKeyOptional',
    body: {
      required: false,
      form: PreviewRequest.unwrap().extend(PageFormFields),
      json: PreviewRequest.unwrap(),
    },
    responses: {
      200: { description: 'The preview', html: true },
      400: errorResponse('The message is too long (characters or receipt lines)', { html: true }),
      403: errorResponse('A browser request from another site, or without the page’s form token', { html: true }),
      429: errorResponse('Too many previews from this address (PREVIEW_RATE_PER_MINUTE, PREVIEW_RATE_BURST)', {
        html: true,
        retryAfter: true,
      }),
    },
  },
  {
    method: 'get',
    path: '/vendor/:file',
    operationId: 'vendorFile',
    summary: 'htmx and its extensions, from the server’s own copy',
    tags: ['page'],
    auth: 'apiKeyOptional',
    params: z.object({ file: z.enum(['htmx.min.js', 'hx-sse.min.js', 'hx-upsert.min.js']) }),
    responses: {
      200: { description: 'The script', text: 'text/javascript' },
      404: errorResponse('No such file', { html: true }),
    },
  },
  {
    method: 'get',
    path: '/static/:file',
    operationId: 'staticFile',
    summary: 'The page’s static files (CSS, scripts, images)',
    tags: ['page'],
    auth: 'apiKeyOptional',
    params: z.object({ file: z.string().meta({ description: 'A file of public/ (may contain /)' }) }),
    responses: {
      200: { description: 'The file', text: '*/*' },
      404: errorResponse('No such file', { html: true }),
    },
  },
];
