/**
 * GET /openapi.json: the OpenAPI 3.1 description of every route, built once from the operations each
 * route module exports next to its routes (http/api/openapi.ts). A module with new routes adds its list here.
 */
import type { RequestHandler, Router } from 'express';
import { newRouter } from './api/context';
import { z } from 'zod';
import pkg from '../../package.json' with { type: 'json' };
import { type ApiOperation, openApiDocument } from './api/openapi';
import { adminOperations } from './admin/routes';
import { pairingOperations } from '../pairing/pairing-routes';
import { downloadOperations, serverUrlOf } from '../downloads/download-routes';
import { eventOperations } from './api/events';
import { jobOperations } from './api/jobs-api';
import { operationOperations } from './api/operations';
import { pageOperations } from './page/page';
import { printerOperations } from './api/printers-api';
import { webhookOperations } from './api/webhooks-api';

const openApiOperation: ApiOperation = {
  method: 'get',
  path: '/openapi.json',
  operationId: 'openapi',
  summary: 'This description of the HTTP API (OpenAPI 3.1)',
  tags: ['api'],
  auth: 'apiKey',
  responses: {
    200: {
      description: 'The document; the same for every request to this version of the server',
      json: z.looseObject({ openapi: z.string().startsWith('3.1.') }),
      headers: { ETag: { description: 'Send it back in If-None-Match to revalidate' } },
    },
    304: { description: 'Not modified: the If-None-Match ETag is the current one' },
  },
};

/** Every route the server serves, in the order the app mounts them. */
export const API_OPERATIONS: readonly ApiOperation[] = [
  ...operationOperations,
  ...adminOperations,
  ...pairingOperations,
  ...downloadOperations,
  ...pageOperations,
  ...eventOperations,
  ...jobOperations,
  ...printerOperations,
  ...webhookOperations,
  openApiOperation,
];

let built: Record<string, unknown> | null = null;

/** The document, built on first use (the schemas do not change while the server runs). */
export function apiDocument(): Record<string, unknown> {
  built ??= openApiDocument(API_OPERATIONS, {
    title: 'Printhop',
    version: pkg.version,
    description: [
      'Print on a receipt printer, exactly once. Send a job with `POST /print` (with an `Idempotency-Key` to retry safely), follow it with `GET /jobs/{id}` or the server-sent events of `GET /jobs/events`.',
      'Errors are JSON `{"error": "..."}` (plus details such as `field`); a request to a path or method not described here is a `404` with the same body. Requests from the page itself (htmx, or a form without JavaScript) get HTML instead.',
    ].join('\n\n'),
  });
  return built;
}

export function openApiRoutes(requireApiKey: RequestHandler): Router {
  const router = newRouter();
  router.get('/openapi.json', requireApiKey, (req, res) => {
    // The server as this client reached it: tools that need a `servers` entry (Redocly's no-empty-servers,
    // try-it-out consoles) get one that works from where they are.
    res
      .set('Cache-Control', 'public, max-age=300')
      .set('Vary', 'Host')
      .json({ ...apiDocument(), servers: [{ url: serverUrlOf(req), description: 'This Printhop server' }] });
  });
  return router;
}
