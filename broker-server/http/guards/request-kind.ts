/** What kind of client asked: htmx (a fragment), a plain form (the page again), or an API client (JSON). */
import type { Request } from 'express';

export const isHtmx = (req: Request): boolean => req.get('HX-Request') === 'true';
export const isPlainForm = (req: Request): boolean =>
  !isHtmx(req) && Boolean(req.is('application/x-www-form-urlencoded'));
