/** For operators: GET /healthz (alive), GET /readyz (each part ready) and GET /metrics (Prometheus). /health stays as before. */
import type { Router } from 'express';
import type { ServerMetrics } from '../../metrics';
import { samePassword } from '../../admin/admin-auth';
import { Health, Readiness } from './api-schemas';
import { newRouter } from './context';
import { type ApiOperation, errorResponse } from './openapi';

/** A part that must be ready before the server takes traffic: null when it is, else why not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<string | null> | string | null;
}

export interface OperationsOptions {
  checks: readonly ReadinessCheck[];
  metrics: ServerMetrics;
  /** Bearer token for /metrics; null: open. */
  metricsToken: string | null;
}

export function operationRoutes(options: OperationsOptions): Router {
  const router = newRouter();

  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ ok: true });
  });

  // Kept as it always answered (compatibility); /healthz and /readyz are the ones to use.
  router.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  router.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      options.checks.map(async (c) => {
        try {
          return { name: c.name, problem: await c.check() };
        } catch (err) {
          return { name: c.name, problem: (err as Error).message || 'check failed' };
        }
      }),
    );
    const notReady = results.filter((r) => r.problem !== null);
    const parts = Object.fromEntries(results.map((r) => [r.name, r.problem === null ? 'ready' : r.problem]));
    res.set('Cache-Control', 'no-store');
    if (notReady.length) res.status(503).json({ ready: false, notReady: notReady.map((r) => r.name), parts });
    else res.json({ ready: true, parts });
  });

  router.get('/metrics', async (req, res) => {
    if (options.metricsToken) {
      const header = req.get('authorization') ?? '';
      const given = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!samePassword(given, options.metricsToken)) {
        res
          .set('WWW-Authenticate', 'Bearer realm="printhop metrics"')
          .status(401)
          .json({ error: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' });
        return;
      }
    }
    res
      .set('Content-Type', options.metrics.contentType())
      .set('Cache-Control', 'no-store')
      .send(await options.metrics.text());
  });

  return router;
}

/** How GET /openapi.json describes these routes (http/api/openapi.ts). */
export const operationOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'healthz',
    summary: 'Alive: the process answers',
    tags: ['operations'],
    auth: 'none',
    responses: { 200: { description: 'Alive', json: Health } },
  },
  {
    method: 'get',
    path: '/health',
    operationId: 'health',
    summary: 'Alive (kept for compatibility; use /healthz)',
    tags: ['operations'],
    auth: 'none',
    deprecated: true,
    responses: { 200: { description: 'Alive', json: Health } },
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readyz',
    summary: 'Ready to take traffic: each part (database, broker, ...) ready',
    tags: ['operations'],
    auth: 'none',
    responses: {
      200: { description: 'Every part is ready', json: Readiness },
      503: { description: 'A part is not ready (`notReady` says which)', json: Readiness },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['operations'],
    auth: 'metrics',
    responses: {
      200: { description: 'The metrics', text: 'text/plain' },
      401: {
        ...errorResponse('METRICS_TOKEN is set and the request does not carry it'),
        headers: { 'WWW-Authenticate': { description: 'Bearer realm="printhop metrics"' } },
      },
    },
  },
];
