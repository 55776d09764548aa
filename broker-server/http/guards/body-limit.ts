/**
 * A body announced (Content-Length) over BODY_LIMIT_BYTES is refused before a byte of it is read:
 * body-parser would otherwise read and discard all of it before answering 413. The connection is
 * closed after the answer, so the rest is never read either.
 */
import type { NextFunction, Request, Response } from 'express';

export function refuseLargeBodies(limitBytes: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const announced = req.headers['content-length'];
    if (announced === undefined || !/^\d+$/.test(announced) || Number(announced) <= limitBytes) return next();
    res.set('Connection', 'close');
    // The error handler answers 413 (JSON, htmx fragment or page) as for any body over the limit.
    next(
      Object.assign(new Error(`request entity too large (${announced} bytes announced)`), {
        type: 'entity.too.large',
        status: 413,
        expose: true,
      }),
    );
  };
}
