/** What a route reads from a request before validating it, written once for the admin section and pairing. */
import type { Request } from 'express';

/** The parsed body (JSON object or form) as fields; anything else (absent, an array, a string) as no field. */
export function bodyFields(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** The token of `Authorization: Bearer <token>`, or '' when there is none. */
export function bearerToken(req: Request): string {
  const header = req.get('authorization') ?? '';
  return header.startsWith('Bearer ') ? header.slice(7) : '';
}
