/**
 * API keys: `Authorization: Bearer <key>` on any request; who the caller is (`res.locals.caller`); the
 * per-key rate limit; API_KEYS_REQUIRED.
 *
 * A key is `ph_` + 43 base64url characters (32 random bytes, 256 bits). Only its SHA-256 is stored: with
 * that much entropy nobody can find a key from its hash by guessing, so a slow password hash (bcrypt,
 * argon2) would add nothing but a delay on every request; a plain hash also lets the row be found by an
 * index. The hash found is compared again in constant time. The key is shown once, by the command that
 * creates it, and never logged (the logs carry the key's name).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Sequelize } from 'sequelize';
import type { Logger } from '../../../runtime/logger';
import type { ApiKeyStore } from '../../store/api-key-store';
import { FORM_TOKEN_FIELD, type FormTokens, formTokenOf } from '../guards/cross-site';
import { HttpError } from '../guards/errors';
import { isHtmx, isPlainForm } from '../guards/request-kind';

export const API_KEY_PATTERN = /^ph_[A-Za-z0-9_-]{43}$/;
export const API_KEY_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function newApiKey(): string {
  return `ph_${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Who sent a request: the page's form, the API without a key, or a key (by name). */
export type Caller = { kind: 'page' } | { kind: 'anonymous' } | { kind: 'api-key'; name: string };

/** The text a job's `createdBy` and the idempotency scope use. */
export const callerLabel = (caller: Caller): string =>
  caller.kind === 'api-key' ? `api-key:${caller.name}` : caller.kind;

export const callerOf = (res: Response): Caller => (res.locals.caller as Caller | undefined) ?? { kind: 'anonymous' };

export type BearerCheck = { ok: true; key: string | null } | { ok: false; error: string };

/** The key of an `Authorization` header: absent (null), or a well-formed Bearer key. */
export function parseBearer(header: string | undefined): BearerCheck {
  if (header === undefined) return { ok: true, key: null };
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  if (!match) return { ok: false, error: 'the Authorization header must be "Bearer <API key>"' };
  if (!API_KEY_PATTERN.test(match[1]!))
    return {
      ok: false,
      error: 'this is not a Printhop API key (they look like ph_ followed by 43 letters, digits, - and _)',
    };
  return { ok: true, key: match[1]! };
}

/** Requests the page's own forms make: with API_KEYS_REQUIRED they must carry the page's form token. */
const fromPage = (req: Request): boolean => req.method === 'POST' && (isHtmx(req) || isPlainForm(req));

export interface ApiKeyAuthOptions {
  log: Logger;
}

/**
 * Sets `res.locals.caller`; an Authorization header that is malformed, unknown or revoked is a 401, never
 * anonymous. Refuses nothing else: whether a route needs a key is decided by the route itself
 * (`requireApiKey` in its own handler chain), so no spelling of a path can reach a route around it.
 */
export function authenticate(store: ApiKeyStore, options: ApiKeyAuthOptions) {
  const log = options.log.child({ module: 'api-keys' });
  // Synchronous without a key (the page, anonymous callers): no promise for what needs no lookup.
  return (req: Request, res: Response, next: NextFunction): Promise<void> | void => {
    const bearer = parseBearer(req.get('authorization'));
    if (!bearer.ok) return next(unauthorized(bearer.error));
    if (bearer.key === null) {
      res.locals.caller = (fromPage(req) ? { kind: 'page' } : { kind: 'anonymous' }) satisfies Caller;
      return next();
    }
    return withKey(bearer.key, req, res, next);
  };

  async function withKey(key: string, req: Request, res: Response, next: NextFunction): Promise<void> {
    const hash = hashApiKey(key);
    const record = await store.byHash(hash);
    if (!record || !sameHash(record.keyHash, hash)) {
      log.warn({ address: req.ip, path: req.path }, 'unknown API key refused');
      return next(unauthorized('unknown API key'));
    }
    if (record.revokedAt) {
      log.warn({ apiKey: record.name, address: req.ip, path: req.path }, 'revoked API key refused');
      return next(unauthorized(`this API key ("${record.name}") was revoked`));
    }
    res.locals.caller = { kind: 'api-key', name: record.name } satisfies Caller;
    next();
  }
}

/**
 * API_KEYS_REQUIRED, for one route: placed in the handler chain of every route the OpenAPI document marks
 * `apiKey` (a unit test walks the router to hold that), after the body is parsed on POST routes. Without a
 * key, only the page's own forms pass, and only with the page's form token: a script that posts a form
 * without having loaded the page is an API caller like any other.
 */
export function requireApiKey(options: { required: boolean; formTokens: FormTokens }): RequestHandler {
  return function requireApiKey(req: Request, res: Response, next: NextFunction): void {
    if (!options.required) return next();
    const caller = callerOf(res);
    if (caller.kind === 'api-key') return next();
    if (caller.kind === 'page' && options.formTokens.verify(formTokenOf(req))) return next();
    next(
      caller.kind === 'page'
        ? new HttpError(
            401,
            `this server requires an API key; a form needs the page's form token (${FORM_TOKEN_FIELD}): reload the page`,
            {},
            'Ce formulaire a expiré ou ne vient pas de cette page : actualisez la page, puis réessayez.',
          )
        : unauthorized(
            'this server requires an API key: send Authorization: Bearer <key> (create one with npm run api-keys -- create NAME)',
          ),
    );
  };
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, message, {}, 'Clé d’API refusée.');
}

/**
 * The per-key limit on creating jobs (rate-limiter-flexible): its Postgres store on PostgreSQL, so that
 * every instance counts against the same limit, or its memory store on SQLite (a single instance).
 */
export function apiKeyLimiter(
  perMinute: number,
  db: { dialect: 'sqlite' | 'postgres'; sequelize: Sequelize },
): RateLimiterAbstract | null {
  if (perMinute <= 0) return null;
  const options = { keyPrefix: 'api-key', points: perMinute, duration: 60 };
  if (db.dialect === 'postgres') {
    return new RateLimiterPostgres({
      ...options,
      storeClient: db.sequelize,
      storeType: 'sequelize',
      tableName: 'rate_limits',
      tableCreated: true,
      clearExpiredByTimeout: true,
    });
  }
  return new RateLimiterMemory(options);
}

/** Job creation limits: a key's own limit for key callers, the per-address limit (`byAddress`) for the rest. */
export function limitJobCreation(
  limiter: RateLimiterAbstract | null,
  byAddress: (req: Request, res: Response, next: NextFunction) => void,
  log: Logger,
) {
  return (req: Request, res: Response, next: NextFunction): Promise<void> | void => {
    const caller = callerOf(res);
    if (caller.kind !== 'api-key') return byAddress(req, res, next);
    if (!limiter) return next();
    return consume(limiter, caller.name, req, res, next);
  };

  async function consume(
    limiter: RateLimiterAbstract,
    name: string,
    req: Request,
    res: Response,
    next: NextFunction,
  ): Promise<void> {
    try {
      await limiter.consume(name);
      next();
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) return next(err);
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      res.set('Retry-After', String(seconds));
      log.warn({ apiKey: name, path: req.path, retryAfterSeconds: seconds }, 'API key rate limited');
      next(
        new HttpError(429, `this API key has used its ${limiter.points} jobs a minute; try again in ${seconds} s`, {
          retryAfterSeconds: seconds,
        }),
      );
    }
  }
}
