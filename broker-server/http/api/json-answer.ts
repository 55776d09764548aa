/**
 * A JSON answer written as Express's `res.status(s).json(value)` writes it (the same status, headers in the same
 * order, the same ETag from the app's own `etag fn`, the same bytes), without its generic steps: the type
 * lookup, the charset rewrite, the header reads and writes through `res.set`. For the answers every job gets
 * (201 to POST /print). Not for GET: there Express's freshness check (304) belongs to the answer.
 */
import type { Response } from 'express';

export function sendJson(res: Response, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  const etag = (res.app.get('etag fn') as ((body: Buffer) => string | undefined) | undefined)?.(body);
  if (etag) res.setHeader('ETag', etag);
  res.end(body);
}
