/**
 * The admin's authentication rules, with no HTTP in them (tested in milliseconds with a fake clock): the
 * password check in constant time, sessions that expire, a CSRF token per session, and a lock-out per
 * client address after repeated failures. Every map is bounded, so that a flood of addresses or logins
 * cannot grow memory without limit.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Clock = () => number;

const digest = (s: string | Buffer) => createHash('sha256').update(s).digest();

/** Constant time whatever the lengths: both sides are hashed first. */
export function samePassword(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export interface AdminSession {
  id: string;
  /** Sent in every admin form and checked on every POST. */
  csrfToken: string;
  expiresAt: number;
}

export class AdminSessions {
  private readonly sessions = new Map<string, AdminSession>();

  constructor(
    private readonly options: { ttlMs: number; max?: number },
    private readonly now: Clock = Date.now,
  ) {}

  create(): AdminSession {
    this.sweep();
    const max = this.options.max ?? 1000;
    // The oldest session goes first when full: a flood of logins cannot grow this map.
    while (this.sessions.size >= max) this.sessions.delete(this.sessions.keys().next().value!);
    const session = {
      id: randomBytes(24).toString('base64url'),
      csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: this.now() + this.options.ttlMs,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The session, or null when unknown or expired (an expired one is forgotten). */
  get(id: string | undefined): AdminSession | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return null;
    }
    return session;
  }

  /** Why a session is refused, for a clear message: `expired` only while the expired entry is still here. */
  status(id: string | undefined): 'valid' | 'expired' | 'none' {
    if (!id) return 'none';
    const session = this.sessions.get(id);
    if (!session) return 'none';
    return session.expiresAt <= this.now() ? 'expired' : 'valid';
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}

/** The form's CSRF token against the session's, in constant time. */
export function csrfMatches(session: AdminSession | null, given: unknown): boolean {
  if (!session || typeof given !== 'string' || given.length === 0) return false;
  return timingSafeEqual(digest(given), digest(session.csrfToken));
}

export type LoginVerdict =
  { ok: true } | { ok: false; reason: 'no-password' | 'wrong-password' | 'locked'; retryAfterSeconds?: number };

/**
 * Failures per address: after `attempts` wrong passwords within `windowMs`, the address is locked for
 * `lockMs` (even the right password is refused meanwhile). A success forgets the address's failures.
 * A request without a password is not a guess and is never counted: any web page can make a visitor's
 * browser send one (`<img src=".../admin/api/printers">`), and must not lock the admin out. Locks are per
 * address only, so another address that has not failed still gets in with the right password.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; first: number; lockedUntil: number }>();

  constructor(
    private readonly options: { attempts: number; lockMs: number; windowMs?: number; maxAddresses?: number },
    private readonly now: Clock = Date.now,
  ) {}

  /** Checks `given` for `address`; records the outcome. */
  attempt(address: string, given: string, expected: string): LoginVerdict {
    const now = this.now();
    const entry = this.failures.get(address);
    if (entry && entry.lockedUntil > now)
      return { ok: false, reason: 'locked', retryAfterSeconds: Math.ceil((entry.lockedUntil - now) / 1000) };
    if (given === '') return { ok: false, reason: 'no-password' };
    if (samePassword(given, expected)) {
      this.failures.delete(address);
      return { ok: true };
    }
    const windowMs = this.options.windowMs ?? this.options.lockMs;
    const current =
      entry && now - entry.first < windowMs && entry.lockedUntil <= now
        ? entry
        : { count: 0, first: now, lockedUntil: 0 };
    current.count++;
    if (current.count >= this.options.attempts) {
      current.lockedUntil = now + this.options.lockMs;
      current.count = 0;
      current.first = now;
    }
    this.failures.delete(address);
    this.failures.set(address, current);
    const max = this.options.maxAddresses ?? 10_000;
    while (this.failures.size > max) this.failures.delete(this.failures.keys().next().value!);
    if (current.lockedUntil > now)
      return { ok: false, reason: 'locked', retryAfterSeconds: Math.ceil(this.options.lockMs / 1000) };
    return { ok: false, reason: 'wrong-password' };
  }

  /**
   * A failure that is not a password (a wrong pairing code typed by the admin), counted with the same
   * attempts, window and lock-out as wrong passwords, through `attempt` with two values that never match.
   * It is counted under a key of its own, because the admin API checks the right password on every
   * request and a right password forgives the address's failures; once it locks, the address is locked.
   */
  recordFailure(address: string): LoginVerdict {
    const verdict = this.attempt(`\u0000code:${address}`, '\u0000wrong', '\u0000right');
    if (!verdict.ok && verdict.reason === 'locked') {
      const now = this.now();
      this.failures.set(address, { count: 0, first: now, lockedUntil: now + (verdict.retryAfterSeconds ?? 0) * 1000 });
    }
    return verdict;
  }

  get trackedAddresses(): number {
    return this.failures.size;
  }
}
