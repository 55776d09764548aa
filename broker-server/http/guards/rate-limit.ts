/**
 * A token bucket per client address: `burst` jobs at once, then `perMinute` a minute. Kept in memory
 * (a restart forgets it), with a bounded number of addresses, least recently seen forgotten first.
 */

export interface RateLimitOptions {
  perMinute: number;
  burst: number;
  /** Addresses remembered at most. */
  maxClients?: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;
  private readonly maxClients: number;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = options.perMinute / 60_000;
    this.maxClients = options.maxClients ?? 10_000;
  }

  get enabled(): boolean {
    return this.options.perMinute > 0;
  }

  /** Takes one token from `key`'s bucket, or says how long until one is there. */
  take(key: string): RateDecision {
    if (!this.enabled) return { ok: true };
    const now = this.now();
    const previous = this.buckets.get(key);
    const tokens = previous
      ? Math.min(this.options.burst, previous.tokens + (now - previous.at) * this.perMs)
      : this.options.burst;
    // Re-inserted so that the map's order is least recently seen first.
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
      return { ok: true };
    }
    this.buckets.set(key, { tokens, at: now });
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000)) };
  }

  get size(): number {
    return this.buckets.size;
  }
}
