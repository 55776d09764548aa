/**
 * The pairing rules, with no HTTP in them (tested in milliseconds with an in-memory store and a fake
 * clock). An agent asks for a code; the admin approves the code for a printer id, which adds that printer
 * to the registry (or, for one that exists, rotates its token at once, cutting its old agent off); the agent
 * holding the pairing secret then claims the printer's token, which is made at that moment by a second
 * rotation and handed out in that one answer, never stored in clear. Before the claim nothing of a pairing
 * reaches the broker: a pending pairing is a database row, not an account.
 *
 * Codes: 6 random digits, unique among pending pairings, one use, valid `codeMs`. Requests are rate
 * limited per address, and the number of pending pairings is bounded, so that a guessed code rarely hits.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../runtime/logger';
import { isPrinterAccount, RESERVED_USERNAMES } from '../../protocol/accounts';
import {
  formatPairingCode,
  normalizePairingCode,
  type PairingClaim,
  type PairingRequest,
} from '../../protocol/pairing';
import { TokenBuckets } from '../http/guards/rate-limit';
import type { PrinterRegistry } from '../printers/printer-registry';
import type { PairingStore } from '../store/pairing-store';

export type Clock = () => number;

/** A refused pairing step: its HTTP status, the API's English and the admin page's French. */
export class PairingError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly messageFr: string,
    /** A wrong code (no pairing ever had it): counted against the admin lock-out like a wrong password. */
    readonly wrongCode = false,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'PairingError';
  }
}

export interface PairingOptions {
  /** PAIRING=false: every pairing request is refused. */
  enabled: boolean;
  /** How long a code may be approved. */
  codeMs: number;
  /** Pairing requests one address may make per minute (and in a burst). */
  ratePerMinute: number;
  /** Pending pairings at once, in all. */
  maxPending?: number;
  /** How often an agent asks whether its code was approved. */
  pollMs?: number;
  /** Draws a code (tests draw their own, to make collisions happen). */
  drawCode?: () => string;
}

export interface StartedPairing {
  id: string;
  code: string;
  secret: string;
  expiresAt: string;
  pollMs: number;
}

export interface PendingPairing {
  code: string;
  machine: string;
  platform: string;
  printer: string;
  agentVersion: string;
  requestedAt: string;
  expiresAt: string;
}

export interface ApprovedPairing {
  code: string;
  printerId: string;
  /** The printer existed: its token was rotated and its old agent cut off. */
  replaced: boolean;
  machine: string;
}

const DEFAULT_MAX_PENDING = 200;
const DEFAULT_POLL_MS = 1000;
/** Ended pairings are forgotten a day after their code's time. */
const FORGET_AFTER_MS = 24 * 3_600_000;

const drawCode = () => String(randomInt(0, 1_000_000)).padStart(6, '0');
const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export class PairingService {
  private readonly log: Logger;
  private readonly buckets: TokenBuckets;

  constructor(
    private readonly store: PairingStore,
    private readonly accounts: Pick<PrinterRegistry, 'add' | 'rotate' | 'lookup'>,
    private readonly options: PairingOptions,
    log: Logger,
    private readonly now: Clock = Date.now,
  ) {
    this.log = log.child({ module: 'pairing' });
    this.buckets = new TokenBuckets(
      { perMinute: options.ratePerMinute, burst: Math.max(1, options.ratePerMinute) },
      this.now,
    );
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** `POST /pairing`: a new code and the secret that will claim the token. */
  async request(details: PairingRequest, address: string): Promise<StartedPairing> {
    this.requireEnabled();
    const limit = this.buckets.take(address);
    if (!limit.ok)
      throw new PairingError(
        429,
        `too many pairing requests from your address; try again in ${limit.retryAfterSeconds} s`,
        `Trop de demandes d’appairage depuis cette adresse : réessayez dans ${limit.retryAfterSeconds} s.`,
        false,
        limit.retryAfterSeconds,
      );
    const now = this.now();
    await this.store.expire(now, now - FORGET_AFTER_MS);
    if ((await this.store.pending(now)).length >= (this.options.maxPending ?? DEFAULT_MAX_PENDING))
      throw new PairingError(
        503,
        'too many pairings are waiting for approval; try again later',
        'Trop d’appairages en attente.',
        false,
        60,
      );
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = now + this.options.codeMs;
    // A code held by another pending pairing is drawn again (the unique index says so).
    for (let tries = 0; tries < 20; tries++) {
      const code = (this.options.drawCode ?? drawCode)();
      const id = randomBytes(16).toString('hex');
      const stored = await this.store.insert({
        id,
        code,
        secretHash: hashSecret(secret),
        ...details,
        address: address.slice(0, 64),
        createdAt: now,
        expiresAt,
      });
      if (!stored) continue;
      this.log.info(
        { pairing: id, code: formatPairingCode(code), machine: details.machine, address },
        'pairing requested',
      );
      return {
        id,
        code,
        secret,
        expiresAt: new Date(expiresAt).toISOString(),
        pollMs: this.options.pollMs ?? DEFAULT_POLL_MS,
      };
    }
    throw new Error('no free pairing code after 20 draws');
  }

  /** The pending pairings, for the admin (never their secret). */
  async pending(): Promise<PendingPairing[]> {
    if (!this.enabled) return [];
    return (await this.store.pending(this.now())).map((p) => ({
      code: p.code,
      machine: p.machine,
      platform: p.platform,
      printer: p.printer,
      agentVersion: p.agentVersion,
      requestedAt: new Date(p.createdAt).toISOString(),
      expiresAt: new Date(p.expiresAt).toISOString(),
    }));
  }

  /**
   * The admin approves `code` for `printerId`: a new printer is added to the registry, an existing one's
   * token is rotated at once (its old agent is disconnected and refused). One use: a second approval of the
   * same code is refused, whichever instance it reaches.
   */
  async approve(typedCode: unknown, printerId: unknown): Promise<ApprovedPairing> {
    this.requireEnabled();
    const code = normalizePairingCode(typedCode);
    if (!code)
      throw new PairingError(
        400,
        'a pairing code is 6 digits (482913 or 482-913)',
        'Un code d’appairage a 6 chiffres (482-913).',
      );
    const id = checkPrinterId(printerId);
    const now = this.now();
    const approved = await this.store.approve(code, id, now);
    if (!approved) throw await this.refusal(code, now);
    let replaced: boolean;
    try {
      replaced = await this.accounts.lookup(id);
      // The token made here is thrown away: the agent's own is made when it claims it.
      if (replaced) await this.accounts.rotate(id);
      else await this.accounts.add(id);
    } catch (err) {
      await this.store.unapprove(approved.id);
      throw err;
    }
    this.log.info(
      { pairing: approved.id, code: formatPairingCode(code), printerId: id, replaced, machine: approved.machine },
      'pairing approved',
    );
    return { code, printerId: id, replaced, machine: approved.machine };
  }

  /**
   * The agent asks with its secret: still pending, or approved with its printer's token, made now and
   * given in this answer only. A wrong secret and an unknown pairing get the same refusal.
   */
  async claim(id: string, secret: string, mqttUrl: string): Promise<PairingClaim> {
    this.requireEnabled();
    const pairing = /^[0-9a-f]{32}$/.test(id) ? await this.store.get(id) : null;
    if (!pairing || !sameSecret(secret, pairing.secretHash))
      throw new PairingError(401, 'unknown pairing, or wrong pairing secret', 'Appairage inconnu.');
    const now = this.now();
    if (pairing.status === 'pending') {
      if (pairing.expiresAt > now) return { status: 'pending', expiresAt: new Date(pairing.expiresAt).toISOString() };
      throw expired();
    }
    if (pairing.status !== 'approved') throw pairing.status === 'delivered' ? claimed() : expired();
    const delivered = await this.store.deliver(pairing.id, now);
    if (!delivered) throw claimed();
    let issued: { printerId: string; token: string };
    try {
      issued = await this.accounts.rotate(delivered.printerId!);
    } catch (err) {
      // Removed from the registry between the approval and the claim: this pairing is spent, a new code may follow.
      this.log.warn({ err, pairing: pairing.id, printerId: delivered.printerId }, 'pairing claim failed');
      throw new PairingError(
        410,
        `printer ${delivered.printerId} cannot be given to this agent any more (removed?): ask for a new code`,
        'Cette imprimante a été retirée entre-temps : demandez un nouveau code.',
      );
    }
    this.log.info({ pairing: pairing.id, printerId: issued.printerId }, 'pairing claimed: the agent has its token');
    return { status: 'approved', printerId: issued.printerId, token: issued.token, mqttUrl };
  }

  /** Why `code` cannot be approved: used, expired, or never handed out (a wrong code). */
  private async refusal(code: string, now: number): Promise<PairingError> {
    const latest = await this.store.latestByCode(code);
    const shown = formatPairingCode(code);
    if (latest && (latest.status === 'approved' || latest.status === 'delivered'))
      return new PairingError(409, `code ${shown} was used already`, `Le code ${shown} a déjà servi.`);
    if (latest && (latest.status === 'expired' || latest.expiresAt <= now))
      return new PairingError(
        410,
        `code ${shown} has expired; the agent prints a new one`,
        `Le code ${shown} a expiré : l’imprimante en imprime un nouveau.`,
      );
    return new PairingError(
      404,
      `no agent is waiting with code ${shown}`,
      `Aucune imprimante n’attend avec le code ${shown}.`,
      true,
    );
  }

  private requireEnabled(): void {
    if (!this.options.enabled)
      throw new PairingError(
        404,
        'pairing is turned off on this server (PAIRING=false)',
        'L’appairage est désactivé sur ce serveur (PAIRING=false).',
      );
  }
}

function sameSecret(given: string, expectedHash: string): boolean {
  return timingSafeEqual(Buffer.from(hashSecret(given), 'hex'), Buffer.from(expectedHash, 'hex'));
}

function checkPrinterId(value: unknown): string {
  if (typeof value === 'string' && RESERVED_USERNAMES.includes(value))
    throw new PairingError(
      400,
      `${JSON.stringify(value)} is a reserved account name`,
      `« ${value} » est un nom réservé.`,
    );
  if (!isPrinterAccount(value))
    throw new PairingError(
      400,
      'a printer id is 1-64 characters of A-Z a-z 0-9 _ -',
      'Identifiant invalide : 1 à 64 caractères parmi A-Z a-z 0-9 _ -.',
    );
  return value;
}

const expired = () =>
  new PairingError(
    410,
    'this pairing has expired: ask for a new code',
    'Cet appairage a expiré : demandez un nouveau code.',
  );
const claimed = () =>
  new PairingError(410, 'this pairing was claimed already: ask for a new code', 'Cet appairage a déjà servi.');
