/**
 * When a failed delivery is tried again: exponential backoff from WEBHOOK_RETRY_MIN_MS, doubling up to
 * WEBHOOK_RETRY_MAX_MS, with "equal jitter" (each wait is drawn between half and all of its step) so
 * that the deliveries of one outage do not all come back at the same moment; until WEBHOOK_RETRY_HOURS
 * after the delivery was queued (right after the event), when it is `failed`. The last try falls on
 * that deadline.
 */
export interface RetryPolicy {
  minMs: number;
  maxMs: number;
  /** How long after it was queued a delivery is still tried. */
  windowMs: number;
}

/** The wait after the `attempts`-th failed try (1: the first), with `random` in [0, 1). */
export function backoffMs(policy: RetryPolicy, attempts: number, random: number): number {
  const step = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.round(step / 2 + (step / 2) * random);
}

/** What follows a failed try at `now`: another one at `at`, or none (the window is over). */
export function afterFailure(
  policy: RetryPolicy,
  delivery: { attempts: number; createdAt: number },
  now: number,
  random: number = Math.random(),
): { retryAt: number } | { failed: true } {
  const deadline = delivery.createdAt + policy.windowMs;
  if (now >= deadline) return { failed: true };
  return { retryAt: Math.min(now + backoffMs(policy, delivery.attempts, random), deadline) };
}
