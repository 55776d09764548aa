/**
 * MQTT password guessing: after `maxFailures` failed logins from one address within a minute, that
 * address is refused (CONNACK 3, "server unavailable", without looking at the password) for `blockMs`;
 * then it may try again, so the right password is never locked out for longer than that. A successful
 * login clears the address's count.
 *
 * Logs, never with the password: the first failure of an address in a window at once (a misconfigured
 * agent shows up immediately), then one summary line per address per window with the count, the user
 * names tried (a few) and the attempts refused while blocked.
 */
import type { Logger } from '../../runtime/logger';

export interface AuthThrottleOptions {
  maxFailures: number;
  blockMs: number;
  /** 60 s. */
  windowMs?: number;
}

interface AddressState {
  windowStart: number;
  failures: number;
  /** Failures not yet in a log line. */
  unlogged: number;
  refused: number;
  usernames: Set<string>;
  reasons: Set<string>;
  blockedUntil: number;
}

const MAX_USERNAMES_LOGGED = 5;
const MAX_ADDRESSES = 10_000;

export class AuthThrottle {
  private readonly addresses = new Map<string, AddressState>();
  private readonly windowMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly options: AuthThrottleOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(this.windowMs, 10_000));
    this.sweeper.unref();
  }

  /** Milliseconds this address is still refused for; 0 when it may try. Counts the refusal. */
  blockedFor(address: string): number {
    const state = this.addresses.get(address);
    const left = state ? state.blockedUntil - this.now() : 0;
    if (left <= 0) return 0;
    state!.refused++;
    return left;
  }

  failure(address: string, username: string | undefined, reason: string): void {
    const now = this.now();
    let state = this.addresses.get(address);
    if (state && now - state.windowStart >= this.windowMs && now >= state.blockedUntil) {
      this.summarize(address, state);
      state = undefined;
    }
    if (!state) {
      state = {
        windowStart: now,
        failures: 0,
        unlogged: 0,
        refused: 0,
        usernames: new Set(),
        reasons: new Set(),
        blockedUntil: 0,
      };
      this.addresses.set(address, state);
      if (this.addresses.size > MAX_ADDRESSES) this.addresses.delete(this.addresses.keys().next().value!);
    }
    state.failures++;
    if (username !== undefined && state.usernames.size < MAX_USERNAMES_LOGGED)
      state.usernames.add(username.slice(0, 64));
    state.reasons.add(reason);
    if (state.failures === 1)
      this.log.warn({ address, username: username?.slice(0, 64), reason }, 'mqtt connection refused');
    else state.unlogged++;
    if (state.failures >= this.options.maxFailures && state.blockedUntil <= now) {
      state.blockedUntil = now + this.options.blockMs;
    }
  }

  success(address: string): void {
    const state = this.addresses.get(address);
    if (!state) return;
    this.summarize(address, state);
    this.addresses.delete(address);
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const [address, state] of this.addresses) this.summarize(address, state);
    this.addresses.clear();
  }

  /** Ends windows that are over: one summary line each, then the address is forgotten. */
  sweep(): void {
    const now = this.now();
    for (const [address, state] of this.addresses) {
      if (now - state.windowStart >= this.windowMs && now >= state.blockedUntil) {
        this.summarize(address, state);
        this.addresses.delete(address);
      }
    }
  }

  private summarize(address: string, state: AddressState): void {
    if (state.unlogged === 0 && state.refused === 0) return;
    this.log.warn(
      {
        address,
        failures: state.failures,
        refusedWhileBlocked: state.refused,
        usernames: [...state.usernames],
        reasons: [...state.reasons],
        blocked: state.blockedUntil > state.windowStart,
        blockSeconds: Math.round(this.options.blockMs / 1000),
        windowSeconds: Math.round(this.windowMs / 1000),
      },
      'mqtt login failures from one address (summary)',
    );
    state.unlogged = 0;
    state.refused = 0;
  }
}
