/**
 * Cross-site request forgery: a page on any other site can make a visitor's browser post to this
 * server. Two locks on every state-changing request (anything but GET/HEAD/OPTIONS) from a browser:
 *
 * - the browser's own word: `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by the user), and
 *   an `Origin` header must name this very host (`null`, sent by a sandboxed frame but also by Chromium
 *   for the page's own plain form posts under `Referrer-Policy: no-referrer`, is left to the token);
 * - a form token, `formToken` in the form or `X-Form-Token` from htmx (the page's `hx-headers`): issued
 *   per page view as `<nonce>.<issued, base 36 ms>.<HMAC-SHA256>`, verified by HMAC only (nothing kept per
 *   token). Its key is FORM_TOKEN_SECRET, or one generated once in DATA_DIR/form-token.key (mode 0600), so a
 *   token stays valid across restarts, and across instances that share the setting or DATA_DIR. The nonce
 *   is unique per view: the form's idempotency key can be derived from it.
 *
 * Without Origin, a `Referer` naming another site is refused too (a browser that sends no Origin on a form
 * post still sends where it comes from). Software without browser headers (no Origin, Sec-Fetch-Site nor
 * Referer: curl, scripts, other servers) is not a browser, cannot be made to post by a web page, and needs
 * neither.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { loadKeyFile } from '../../../runtime/file-modes';

export const FORM_TOKEN_FIELD = 'formToken';
export const FORM_TOKEN_HEADER = 'X-Form-Token';
export const FORM_TOKEN_KEY_FILE = 'form-token.key';
/** A page older than this must be reloaded before it can post again. */
export const FORM_TOKEN_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class CrossSiteRefused extends Error {
  constructor(
    message: string,
    readonly messageFr: string,
  ) {
    super(message);
  }
}

/** The key: the setting if given, else DATA_DIR/form-token.key, created (0600) on first use. */
export function loadFormTokenKey(secret: string | null, dataDir: string): { key: Buffer; modeFixed: boolean } {
  if (secret) return { key: Buffer.from(secret, 'utf8'), modeFixed: false };
  const { text, modeFixed } = loadKeyFile(dataDir, FORM_TOKEN_KEY_FILE, 'a form token key');
  return { key: Buffer.from(text, 'utf8'), modeFixed };
}

export class FormTokens {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  issue(): string {
    const body = `${randomBytes(12).toString('base64url')}.${this.now().toString(36)}`;
    return `${body}.${this.sign(body)}`;
  }

  verify(token: unknown): boolean {
    if (typeof token !== 'string' || token.length > 200) return false;
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [nonce, issued, mac] = parts as [string, string, string];
    const expected = Buffer.from(this.sign(`${nonce}.${issued}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    const age = this.now() - parseInt(issued, 36);
    return age >= -60_000 && age <= FORM_TOKEN_MAX_AGE_MS;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** A request some browser made: it says where it comes from (an old one, or a form, by its Referer only). */
const fromBrowser = (req: Request) =>
  req.get('Sec-Fetch-Site') !== undefined || req.get('Origin') !== undefined || req.get('Referer') !== undefined;

/** Why a state-changing request must be refused, or null. Call after the body is parsed (the token may be in it). */
export function crossSiteProblem(req: Request, tokens: FormTokens): CrossSiteRefused | null {
  if (SAFE_METHODS.has(req.method) || !fromBrowser(req)) return null;
  const site = req.get('Sec-Fetch-Site');
  const origin = req.get('Origin');
  const foreign = new CrossSiteRefused(
    'refused: this request comes from another site (Origin / Sec-Fetch-Site); post from this server’s own page',
    'Demande refusée : elle vient d’un autre site. Utilisez la page de Printhop elle-même.',
  );
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return foreign;
  // `Origin: null` is what Chromium sends for the page's own form posts under Referrer-Policy: no-referrer
  // (security-headers.ts), and what a sandboxed frame sends: the form token tells them apart.
  if (origin !== undefined && origin !== 'null' && !sameHost(origin, req.host)) return foreign;
  // No Origin (a browser that sends none on a form post): its Referer, when it sends one, must be this host.
  const referer = req.get('Referer');
  if (origin === undefined && referer !== undefined && !sameHost(referer, req.host)) return foreign;
  if (!tokens.verify(formTokenOf(req))) {
    return new CrossSiteRefused(
      `refused: a browser request needs the page's form token (${FORM_TOKEN_FIELD} field or ${FORM_TOKEN_HEADER} header); reload the page`,
      'Ce formulaire a expiré ou ne vient pas de cette page : actualisez la page, puis réessayez.',
    );
  }
  return null;
}

/** The form token a request carries: the htmx header, or the form's field (after the body is parsed). */
export function formTokenOf(req: Request): unknown {
  const body = req.body as Record<string, unknown> | undefined;
  return (
    req.get(FORM_TOKEN_HEADER) ??
    (body && typeof body === 'object' && Object.hasOwn(body, FORM_TOKEN_FIELD) ? body[FORM_TOKEN_FIELD] : undefined)
  );
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (!host || origin === 'null' || !URL.canParse(origin)) return false;
  const url = new URL(origin);
  const withPort = url.port ? url.host : `${url.hostname}:${url.protocol === 'https:' ? 443 : 80}`;
  const hostWithPort =
    /:\d+$/.test(host) && !host.endsWith(']') ? host : `${host}:${url.protocol === 'https:' ? 443 : 80}`;
  return withPort.toLowerCase() === hostWithPort.toLowerCase() || url.host.toLowerCase() === host.toLowerCase();
}

/** Express middleware: refuses with `onRefused`'s error (the app's error handler answers, in JSON, htmx or page form). */
export function refuseCrossSite(tokens: FormTokens, toError: (refused: CrossSiteRefused) => unknown) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const problem = crossSiteProblem(req, tokens);
    next(problem ? toError(problem) : undefined);
  };
}
