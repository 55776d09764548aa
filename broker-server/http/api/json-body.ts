/**
 * JSON request bodies, read by hand for the plain case and by body-parser for every other one.
 *
 * What the API's clients send is nearly always the same: `Content-Type: application/json` (at most
 * `; charset=utf-8`), a `Content-Length` within BODY_LIMIT_BYTES, no `Content-Encoding`. That body is read
 * here into one buffer, checked as UTF-8, and parsed, with body-parser's own answers: the same error types
 * and messages (`entity.parse.failed` with JSON.parse's message, `utf8.invalid`, `request.aborted`), a
 * leading byte-order mark dropped as its decoder drops it, an empty body as `{}`. Anything else (another
 * charset, a compressed or chunked body, a length over the limit, another type) goes to body-parser,
 * unchanged: its type checks, decoders, inflation and limits are not repeated here.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isUtf8 } from 'node:buffer';
import { InvalidUtf8Error } from './validation';

const PLAIN_JSON = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;
const DIGITS = /^\d{1,15}$/;

/** A body-parser error: its `type` is what the error handler (guards/errors.ts) answers by. */
function bodyError(err: Error, status: number, type: string): Error {
  return Object.assign(err, { status, statusCode: status, expose: true, type });
}

/** The length of a body this reader takes whole, or null: body-parser's case. */
function plainLength(req: Request, limitBytes: number): number | null {
  const headers = req.headers;
  const type = headers['content-type'];
  const length = headers['content-length'];
  if (type === undefined || length === undefined || !DIGITS.test(length)) return null;
  if (headers['transfer-encoding'] !== undefined) return null;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return null;
  if (!PLAIN_JSON.test(type)) return null;
  const bytes = Number(length);
  // A body already read (or being read) by someone else is body-parser's to skip.
  if (bytes > limitBytes || req.readableEnded || req.readableFlowing !== null) return null;
  return bytes;
}

/** The parsed body, or the error body-parser would give for it. */
function parse(body: Buffer): { ok: true; value: unknown } | { ok: false; error: Error } {
  if (!isUtf8(body)) return { ok: false, error: bodyError(new InvalidUtf8Error(), 403, 'utf8.invalid') };
  // body-parser's decoder (iconv-lite) drops a leading byte-order mark.
  const bom = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
  const text = body.toString('utf8', bom ? 3 : 0);
  if (text.length === 0) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: bodyError(err as Error, 400, 'entity.parse.failed') };
  }
}

/**
 * Express middleware in place of `express.json(...)` (given as `fallback`, with the same limit): plain JSON
 * bodies read here, every other request handed to `fallback`.
 */
export function jsonBody(limitBytes: number, fallback: RequestHandler): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const length = plainLength(req, limitBytes);
    if (length === null) return void fallback(req, res, next);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: Error | null): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      if (error) return next(error);
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      const parsed = parse(body);
      if (!parsed.ok) return next(parsed.error);
      req.body = parsed.value;
      next();
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void =>
      finish(
        received === length
          ? null
          : bodyError(new Error('request size did not match content length'), 400, 'request.size.invalid'),
      );
    const onAbort = (): void => finish(bodyError(new Error('request aborted'), 400, 'request.aborted'));
    const onClose = (): void => {
      if (!req.complete) onAbort();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  };
}
