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
    kind = plainJson(req)
      ? 'json'
      : req.is('application/json')
        ? 'json'
        : req.is('application/x-www-form-urlencoded')
          ? 'form'
          : 'other';
    kinds.set(req, kind);
  }
  return kind;
}

/** What API clients send, spelled as they send it, known without parsing: the rest goes to `req.is`. */
const PLAIN_JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);

/** `req.is('application/json')` for those spellings: type-is's "has a body" (a length or a transfer coding) and the type. */
function plainJson(req: Request): boolean {
  const { headers } = req;
  const type = headers['content-type'];
  if (type === undefined || !PLAIN_JSON_TYPES.has(type)) return false;
  return headers['transfer-encoding'] !== undefined || !Number.isNaN(Number(headers['content-length']));
}

export const isHtmx = (req: Request): boolean => req.get('HX-Request') === 'true';
export const isPlainForm = (req: Request): boolean => !isHtmx(req) && bodyKind(req) === 'form';
