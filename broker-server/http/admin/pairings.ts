/** Approving the code an agent printed (broker-server/pairing/): on the page and in the admin API. */
import type { Request, Router } from 'express';
import { z } from 'zod';
import { ApprovedPairing, PairingApproval, PendingPairing } from '../../pairing/pairing-schemas';
import { PairingError } from '../../pairing/pairing-service';
import { type ApiOperation, errorResponse } from '../api/openapi';
import { bodyFields } from '../api/request-fields';
import { newRouter } from '../api/context';
import { AdminForm, adminApiRefusals, adminPageAnswers, api, page } from './api-docs';
import type { AdminKit, AdminRequest } from './kit';
import { apiError, pageError } from './printers';

/**
 * Approves a pairing code; a wrong one (no agent ever had it) counts against the address's lock-out,
 * like a wrong password. Resolves with the approval, or throws a PairingError (429 once locked out).
 */
async function approvePairing(kit: AdminKit, req: Request) {
  const { code, printerId } = bodyFields(req);
  try {
    return await kit.options.pairing.approve(code, printerId);
  } catch (err) {
    if (!(err instanceof PairingError) || !err.wrongCode) throw err;
    const verdict = kit.options.throttle.recordFailure(req.ip ?? 'unknown');
    kit.log.warn({ address: req.ip, reason: verdict.ok ? 'wrong-code' : verdict.reason }, 'wrong pairing code');
    if (!verdict.ok && verdict.reason === 'locked')
      throw new PairingError(
        429,
        `too many wrong codes or passwords from your address; try again in ${verdict.retryAfterSeconds ?? 60} s`,
        `Trop d’essais manqués depuis votre adresse : réessayez dans ${Math.ceil((verdict.retryAfterSeconds ?? 60) / 60)} min.`,
        true,
        verdict.retryAfterSeconds ?? 60,
      );
    throw err;
  }
}

export function pairingAdminRoutes(kit: AdminKit): Router {
  const router = newRouter();
  const { options, requireBearer } = kit;

  router.post('/admin/pairings', ...options.parseBody, kit.requireSession, async (req: AdminRequest, res) => {
    try {
      const approved = await approvePairing(kit, req);
      const replaced = approved.replaced ? ` ; l’ancien agent de ${approved.printerId} est déconnecté` : '';
      const text = `Code accepté : ${approved.machine} devient ${approved.printerId}${replaced}. L’imprimante se connecte dans quelques secondes.`;
      await kit.notice(req, res, 201, 'ok', text);
    } catch (err) {
      if (!(err instanceof PairingError)) return pageError(kit, req, res, req.adminSession!, err);
      if (err.retryAfterSeconds) res.set('Retry-After', String(err.retryAfterSeconds));
      await kit.notice(req, res, err.status, 'error', err.messageFr);
    }
  });

  router.get('/admin/api/pairings', requireBearer, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await options.pairing.pending());
  });

  router.post('/admin/api/pairings', requireBearer, ...options.parseBody, async (req, res) => {
    try {
      res.status(201).json(await approvePairing(kit, req));
    } catch (err) {
      if (!(err instanceof PairingError)) return apiError(res, err);
      if (err.retryAfterSeconds) res.set('Retry-After', String(err.retryAfterSeconds));
      res.status(err.status).json({ error: err.message });
    }
  });

  return router;
}

export const pairingAdminOperations: ApiOperation[] = [
  {
    ...page,
    method: 'post',
    path: '/admin/pairings',
    operationId: 'adminApprovePairing',
    summary: 'Approve the code an agent printed, for a new or existing printer id',
    body: { form: AdminForm.extend({ code: z.string(), printerId: z.string() }) },
    responses: adminPageAnswers({
      201: 'Approved: the agent receives its token when it next asks',
      400: 'Not 6 digits, or an invalid printer id',
      404: 'No agent waits with this code (counted like a wrong password), or pairing is off',
      409: 'The code was used already',
      410: 'The code has expired',
      429: 'Too many wrong codes or passwords from this address',
    }),
  },
  {
    ...api,
    method: 'get',
    path: '/admin/api/pairings',
    operationId: 'adminListPairings',
    summary: 'Agents waiting for their code to be approved',
    responses: {
      200: { description: 'Pending pairings, oldest first', json: z.array(PendingPairing) },
      ...adminApiRefusals,
    },
  },
  {
    ...api,
    method: 'post',
    path: '/admin/api/pairings',
    operationId: 'adminApiApprovePairing',
    summary:
      'Approve a pairing code for a printer id (an existing printer’s token is rotated: its old agent is cut off)',
    body: { json: PairingApproval },
    responses: {
      201: { description: 'Approved: the agent receives its token when it next asks', json: ApprovedPairing },
      400: errorResponse('Not 6 digits, an invalid printer id, or invalid JSON'),
      404: errorResponse('No agent waits with this code (counted like a wrong password), or pairing is off'),
      409: errorResponse('The code was used already, or the broker refused the account change'),
      410: errorResponse('The code has expired'),
      ...adminApiRefusals,
      429: errorResponse('Too many wrong codes or passwords from this address', { retryAfter: true }),
    },
  },
];
