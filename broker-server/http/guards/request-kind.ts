/** What kind of client asked: htmx (a fragment), a plain form (the page again), or an API client (JSON). */
import type { Request } from 'express';

export type BodyKind = 'json' | 'form' | 'other';
const kinds = new WeakMap<Request, BodyKind>();

/**
 * The body's type as the routes tell them apart (`req.is`: none without a body), read once per request:
 * a job's request asks it four times (authentication, the route, its Idempotency-Key, the answer).
 */
export function bodyKind(req: Request): BodyKind {
  let kind = kinds.get(req);
  if (kind === undefined) {
    kind = req.is('application/json') ? 'json' : req.is('application/x-www-form-urlencoded') ? 'form' : 'other';
    kinds.set(req, kind);
  }
  return kind;
}

export const isHtmx = (req: Request): boolean => req.get('HX-Request') === 'true';
export const isPlainForm = (req: Request): boolean => !isHtmx(req) && bodyKind(req) === 'form';
