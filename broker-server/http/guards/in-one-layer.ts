/**
 * Middlewares every request passes, run one after the other inside one layer of the app's router: each layer
 * costs the router a walk step per request (its path match, a params object, a callback for its parameters),
 * and the guards in front of every route (security headers, host check, announced size) need none of it, as
 * they have no path. Same order and same outcome as `app.use(a); app.use(b); ...`: an error (passed to `next`,
 * thrown, or a rejected promise) skips the rest and goes to the app's error handlers, `next('route')` goes on
 * to the next one as the router does for a middleware, `next('router')` leaves the app's router.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export function inOneLayer(...handlers: RequestHandler[]): RequestHandler {
  const run = (i: number, req: Request, res: Response, next: NextFunction): void => {
    if (i === handlers.length) return next();
    const after = (err?: unknown): void => {
      if (err === undefined || err === null || err === 'route') run(i + 1, req, res, next);
      else next(err);
    };
    try {
      const returned: unknown = handlers[i]!(req, res, after);
      if (returned instanceof Promise) returned.catch((err: unknown) => next(err ?? new Error('Rejected promise')));
    } catch (err) {
      next(err);
    }
  };
  return (req, res, next) => run(0, req, res, next);
}
