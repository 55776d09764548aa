/**
 * The agent's side of pairing over HTTP: `POST /pairing` (a code and a secret) and
 * `POST /pairing/:id/claim` (`Authorization: Bearer <secret>`: still pending, or the printer's token once).
 * Mounted before the API keys: an agent that is pairing has no key, and its secret is its credential.
 * The admin's side (list, approve) is in http/routes/admin.ts, behind the admin password.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../../runtime/logger';
import { PairingClaim, PairingRequest, PairingStarted } from '../../protocol/pairing';
import { HttpError } from '../http/guards/errors';
import { type ApiOperation, errorResponse } from '../http/api/openapi';
import { bearerToken } from '../http/api/request-fields';
import { check } from '../http/api/validation';
import { PrinterAdminError } from '../printers/printer-registry';
import { PairingError, type PairingService } from './pairing-service';

export interface PairingRouteOptions {
  pairing: PairingService;
  parseBody: express.RequestHandler[];
  /** Where a paired agent connects; null: ws(s)://<this request's Host>/mqtt (the embedded broker). */
  agentMqttUrl: string | null;
  log: Logger;
}

/** The broker URL an agent reached through `req` should use. */
export function agentBrokerUrl(req: Request, configured: string | null): string {
  return configured ?? `${req.secure ? 'wss' : 'ws'}://${req.get('host') ?? 'localhost:3000'}/mqtt`;
}

/** A pairing refusal as an HTTP error (its French for the admin page); anything else is unexpected. */
export function pairingHttpError(err: unknown): HttpError {
  if (err instanceof PairingError) {
    return new HttpError(
      err.status,
      err.message,
      err.retryAfterSeconds ? { retryAfterSeconds: err.retryAfterSeconds } : {},
      err.messageFr,
    );
  }
  if (err instanceof PrinterAdminError) return new HttpError(err.status, err.message, {}, err.messageFr);
  throw err;
}

export function pairingRoutes(options: PairingRouteOptions): Router {
  const router = express.Router();
  const log = options.log.child({ module: 'pairing-http' });

  const fail = (res: Response, next: NextFunction, err: unknown) => {
    try {
      const http = pairingHttpError(err);
      if (http.details.retryAfterSeconds) res.set('Retry-After', String(http.details.retryAfterSeconds));
      next(http);
    } catch (unexpected) {
      next(unexpected);
    }
  };

  router.post('/pairing', ...options.parseBody, async (req, res, next) => {
    const body = check(PairingRequest, req.body ?? {});
    if (!body.ok) return next(new HttpError(400, body.error, body.field ? { field: body.field } : {}));
    try {
      const started = await options.pairing.request(body.value, req.ip ?? 'unknown');
      res.status(201).set('Cache-Control', 'no-store').json(started);
    } catch (err) {
      fail(res, next, err);
    }
  });

  router.post('/pairing/:id/claim', async (req, res, next) => {
    const secret = bearerToken(req);
    if (!secret) return next(new HttpError(401, 'a claim needs Authorization: Bearer <pairing secret>'));
    try {
      const claim = await options.pairing.claim(req.params.id, secret, agentBrokerUrl(req, options.agentMqttUrl));
      res.set('Cache-Control', 'no-store').json(claim);
    } catch (err) {
      if (err instanceof PairingError && err.status === 401)
        log.warn({ address: req.ip }, 'pairing claim with an unknown pairing or a wrong secret');
      fail(res, next, err);
    }
  });

  return router;
}

const ClaimPath = z.object({ id: z.string().meta({ description: 'The pairing id `POST /pairing` answered' }) });
const turnedOff = errorResponse('Pairing is turned off (PAIRING=false)');
const agentSide = { tags: ['pairing'], auth: 'none' } as const;

export const pairingOperations: ApiOperation[] = [
  {
    ...agentSide,
    method: 'post',
    path: '/pairing',
    operationId: 'startPairing',
    summary: 'An agent asks to pair: a 6-digit code for the admin, and a secret it keeps',
    description:
      'The agent prints the code on its printer and claims its token with the secret once the admin has approved the code (`POST /admin/api/pairings`). The code is valid PAIRING_CODE_SECONDS, once.',
    body: { json: PairingRequest },
    responses: {
      201: { description: 'A new code', json: PairingStarted },
      404: turnedOff,
      429: errorResponse('Too many pairing requests from this address', { retryAfter: true }),
      503: errorResponse('Too many pairings are waiting for approval', { retryAfter: true }),
    },
  },
  {
    ...agentSide,
    method: 'post',
    path: '/pairing/:id/claim',
    operationId: 'claimPairing',
    summary: 'The agent asks, with its pairing secret, whether its code was approved',
    description:
      'Send `Authorization: Bearer <secret>`, the secret `POST /pairing` answered. Answers `pending` until the admin approves the code; then, once, the printer id, its MQTT token and the broker URL. Ask again every `pollMs`.',
    params: ClaimPath,
    responses: {
      200: { description: 'Pending, or approved with the printer’s token', json: PairingClaim },
      401: errorResponse('No secret, a wrong one, or an unknown pairing'),
      404: turnedOff,
      410: errorResponse('Expired, or claimed already: ask for a new code'),
    },
  },
];
