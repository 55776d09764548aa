/** The event streams: the page's HTML updates and every job and printer change as JSON (`event: job` / `event: printer`), for API clients and the benchmark. */
import express, { type Router } from 'express';
import type { RouteContext } from './context';

export function eventRoutes(ctx: RouteContext): Router {
  const router = express.Router();
  router.get('/events', ctx.streamLimits.middleware, ctx.live.handle);
  router.get('/jobs/events', ctx.streamLimits.middleware, ctx.live.handleJson);
  return router;
}
