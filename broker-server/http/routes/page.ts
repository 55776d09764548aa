/** The page, its fragments and its static files. */
import { createRequire } from 'node:module';
import express, { type Router } from 'express';
import { DEFAULT_CODE_PAGE, isCodePageName } from '../../../protocol/codepages';
import { layoutReceipt } from '../../../protocol/receipt-layout';
import { isPrinterId } from '../../../protocol/topics';
import { parseJobId } from '../validation';
import { page, PAGE_JOB_COUNT, type PageState, type ReceiptPreview, receiptPreview } from '../views';
import type { RouteContext } from './context';

const require = createRequire(import.meta.url);
// htmx and the two extensions the page uses, straight from node_modules (never a CDN).
const VENDOR_FILES: Record<string, string> = {
  'htmx.min.js': require.resolve('htmx.org/dist/htmx.min.js'),
  'hx-sse.min.js': require.resolve('htmx.org/dist/ext/hx-sse.min.js'),
  'hx-upsert.min.js': require.resolve('htmx.org/dist/ext/hx-upsert.min.js'),
};

export type PageRenderer = (state: Omit<PageState, 'jobs' | 'printers' | 'defaultPrinterId' | 'preview'>) => Promise<string>;

/** The receipt the agent of `printerId` would print for `content` now, on its reported paper and code page. */
async function preview(ctx: RouteContext, content: string, printerId: string | undefined): Promise<ReceiptPreview> {
  const id = printerId && isPrinterId(printerId) && (await ctx.printers.isKnown(printerId)) ? printerId : ctx.defaultPrinterId;
  const printer = await ctx.printers.get(id);
  const columns = printer?.columns ?? ctx.paperColumns;
  const codePage = printer?.codepage && isCodePageName(printer.codepage) ? printer.codepage : DEFAULT_CODE_PAGE;
  return { lines: layoutReceipt({ content, createdAt: new Date() }, { columns, codePage }), columns, codePage, printerId: id };
}

export function pageRenderer(ctx: RouteContext): PageRenderer {
  return async (state) => {
    const [recent, printers, receipt] = await Promise.all([ctx.jobs.list({ limit: PAGE_JOB_COUNT }), ctx.printers.list(), preview(ctx, state.content ?? '', state.printerId)]);
    return page({ ...state, jobs: recent, printers, defaultPrinterId: ctx.defaultPrinterId, preview: receipt }).value;
  };
}

export function pageRoutes(ctx: RouteContext, renderPage: PageRenderer): Router {
  const router = express.Router();

  router.use('/static', express.static(ctx.publicDir, { maxAge: '1h' }));
  router.get('/vendor/:file', (req, res, next) => {
    const file = VENDOR_FILES[String(req.params.file)];
    if (file) res.sendFile(file, { maxAge: '1d' });
    else next();
  });

  router.get('/', async (req, res) => {
    const sentId = parseJobId(req.query.sent);
    const sentJob = sentId ? await ctx.jobs.get(sentId) : null;
    res.type('html').send(await renderPage({ sentJob }));
  });

  router.post('/fragments/preview', ...ctx.parseBody, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const content = typeof body.content === 'string' ? body.content : '';
    const printerId = typeof body.printerId === 'string' ? body.printerId : undefined;
    res.type('html').send(receiptPreview(await preview(ctx, content, printerId)).value);
  });

  return router;
}
