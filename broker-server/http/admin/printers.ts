/** The printer registry: add, rotate a token, remove; on the page (forms) and in the admin API (JSON, `npm run printers`). */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { shellQuote } from '../../access-banner';
import type { AdminSession } from '../../admin/admin-auth';
import { PrinterAdminError } from '../../printers/printer-registry';
import { ApiError, IssuedToken, PrinterAccount, RemovedPrinter } from '../api/api-schemas';
import { type ApiOperation, errorResponse } from '../api/openapi';
import { bodyFields } from '../api/request-fields';
import { newRouter } from '../api/context';
import { PrinterId } from '../api/validation';
import { AdminForm, adminApiRefusals, adminPageAnswers, api, page } from './api-docs';
import type { AdminKit, AdminRequest } from './kit';

/** DELETE /admin/api/printers/:id?force=true: anything else is no force. */
const RemoveQuery = z.object({
  force: z
    .enum(['true', '1'])
    .optional()
    .catch(undefined)
    .meta({ description: 'Remove it even with unfinished jobs, which end `failed`' }),
});

/** The command that starts a new printer's agent with its token. */
export function agentCommand(kit: AdminKit, req: Request, printerId: string, token: string): string {
  const url = kit.options.agentMqttUrl ?? `${req.secure ? 'wss' : 'ws'}://${req.get('host') ?? 'localhost:3000'}/mqtt`;
  return `MQTT_URL=${shellQuote(url)} PRINTER_ID=${printerId} MQTT_PASSWORD=${shellQuote(token)} npm run agent`;
}

/** A refused registry change, shown on the page (with the confirmation to remove a printer that has unfinished jobs). */
export async function pageError(kit: AdminKit, req: Request, res: Response, session: AdminSession, err: unknown) {
  if (!(err instanceof PrinterAdminError)) throw err;
  const unfinished = err.details.unfinishedJobs;
  const notice = { kind: 'error' as const, text: err.messageFr };
  if (err.status === 409 && Array.isArray(unfinished)) {
    const confirmRemove = { printerId: String(err.details.printerId ?? ''), unfinished: unfinished.length };
    kit.send(res, 409, await kit.render(req, session, { notice, confirmRemove }));
    return;
  }
  kit.send(res, err.status, await kit.render(req, session, { notice }));
}

/** A refused registry change in the admin API. */
export function apiError(res: Response, err: unknown): void {
  if (!(err instanceof PrinterAdminError)) throw err;
  res.status(err.status).json({ error: err.message, ...err.details });
}

export function printerRoutes(kit: AdminKit): Router {
  const router = newRouter();
  printerPage(kit, router);
  printerApi(kit, router);
  return router;
}

function printerPage(kit: AdminKit, router: Router): void {
  const { options } = kit;
  const form = [...options.parseBody, kit.requireSession];
  const issuedPage = async (
    req: AdminRequest,
    res: Response,
    status: number,
    text: string,
    issued: { printerId: string; token: string },
  ) =>
    kit.notice(req, res, status, 'ok', text, {
      issued: { ...issued, command: agentCommand(kit, req, issued.printerId, issued.token) },
    });

  router.post('/admin/printers', ...form, async (req: AdminRequest, res) => {
    try {
      const issued = await options.accounts.add(bodyFields(req).printerId);
      await issuedPage(req, res, 201, `Imprimante ${issued.printerId} ajoutée.`, issued);
    } catch (err) {
      await pageError(kit, req, res, req.adminSession!, err);
    }
  });

  router.post('/admin/printers/:id/rotate', ...form, async (req: AdminRequest, res) => {
    try {
      const issued = await options.accounts.rotate(req.params.id);
      const text = `Nouveau jeton pour ${issued.printerId} : l’ancien est refusé et l’agent connecté a été déconnecté. Relancez-le avec le nouveau ; ses tâches l’attendent.`;
      await issuedPage(req, res, 200, text, issued);
    } catch (err) {
      await pageError(kit, req, res, req.adminSession!, err);
    }
  });

  router.post('/admin/printers/:id/remove', ...form, async (req: AdminRequest, res) => {
    const force = bodyFields(req).force === 'true';
    try {
      const removed = await options.accounts.remove(req.params.id, { force });
      const failed = removed.failedJobs.length
        ? ` ${removed.failedJobs.length} tâche(s) non imprimée(s) passent en échec.`
        : '';
      await kit.notice(
        req,
        res,
        200,
        'ok',
        `Imprimante ${removed.printerId} supprimée ; son agent a été déconnecté.${failed}`,
      );
    } catch (err) {
      await pageError(kit, req, res, req.adminSession!, err);
    }
  });
}

function printerApi(kit: AdminKit, router: Router): void {
  const { options, requireBearer } = kit;
  const issuedJson = (req: Request, res: Response, status: number, issued: { printerId: string; token: string }) =>
    res
      .status(status)
      .set('Cache-Control', 'no-store')
      .json({ ...issued, agentCommand: agentCommand(kit, req, issued.printerId, issued.token) });

  router.get('/admin/api/printers', requireBearer, async (_req, res) => {
    res.json(await options.accounts.list());
  });

  router.post('/admin/api/printers', requireBearer, ...options.parseBody, async (req, res) => {
    try {
      issuedJson(req, res, 201, await options.accounts.add(bodyFields(req).printerId));
    } catch (err) {
      apiError(res, err);
    }
  });

  router.post('/admin/api/printers/:id/rotate', requireBearer, async (req, res) => {
    try {
      issuedJson(req, res, 200, await options.accounts.rotate(req.params.id));
    } catch (err) {
      apiError(res, err);
    }
  });

  router.delete('/admin/api/printers/:id', requireBearer, async (req, res) => {
    try {
      const force = RemoveQuery.parse(req.query).force !== undefined;
      res.json(await options.accounts.remove(req.params.id, { force }));
    } catch (err) {
      apiError(res, err);
    }
  });
}

const AdminPath = z.object({ id: z.string().meta({ description: 'The printer (its MQTT account)' }) });

export const printerOperations: ApiOperation[] = [
  {
    ...page,
    method: 'post',
    path: '/admin/printers',
    operationId: 'adminAddPrinter',
    summary: 'Add a printer: its token and agent command, shown once',
    body: { form: AdminForm.extend({ printerId: z.string() }) },
    responses: adminPageAnswers({ 201: 'Added', 400: 'Invalid id', 409: 'It exists already' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/printers/:id/rotate',
    operationId: 'adminRotatePrinter',
    summary: 'A new token for a printer (the old one is refused at once)',
    params: AdminPath,
    body: { form: AdminForm },
    responses: adminPageAnswers({ 200: 'Rotated', 400: 'Invalid id', 404: 'No such printer' }),
  },
  {
    ...page,
    method: 'post',
    path: '/admin/printers/:id/remove',
    operationId: 'adminRemovePrinter',
    summary: 'Remove a printer (with `force=true`, even with unfinished jobs)',
    params: AdminPath,
    body: { form: AdminForm.extend({ force: z.literal('true').optional() }) },
    responses: adminPageAnswers({
      200: 'Removed',
      400: 'Invalid id',
      404: 'No such printer',
      409: 'Unfinished jobs: asks for confirmation',
    }),
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/printers',
    operationId: 'adminListPrinters',
    summary: 'The printer registry',
    responses: { 200: { description: 'The printers', json: z.array(PrinterAccount) }, ...adminApiRefusals },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/printers',
    operationId: 'adminApiAddPrinter',
    summary: 'Add a printer: its token, shown once',
    body: { json: z.object({ printerId: PrinterId }) },
    responses: {
      201: { description: 'Added', json: IssuedToken },
      400: errorResponse('Invalid or reserved id, or invalid JSON'),
      409: errorResponse('It exists already'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/printers/:id/rotate',
    operationId: 'adminApiRotatePrinter',
    summary: 'A new token for a printer (the old one is refused at once, its agent disconnected)',
    params: AdminPath,
    responses: {
      200: { description: 'Rotated', json: IssuedToken },
      400: errorResponse('Invalid id'),
      404: errorResponse('No such printer'),
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'delete',
    path: '/admin/api/printers/:id',
    operationId: 'adminApiRemovePrinter',
    summary: 'Remove a printer (its agent is disconnected; its unfinished jobs need `force`)',
    params: AdminPath,
    query: RemoveQuery,
    responses: {
      200: { description: 'Removed', json: RemovedPrinter },
      400: errorResponse('Invalid id'),
      404: errorResponse('No such printer'),
      409: {
        description: 'Unfinished jobs (`unfinishedJobs`): send `force=true` to fail them',
        json: ApiError.extend({ printerId: z.string(), unfinishedJobs: z.array(z.number().int()) }),
      },
      ...adminApiRefusals,
    },
  },
];
