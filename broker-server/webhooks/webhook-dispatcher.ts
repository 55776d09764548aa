/**
 * Sends every job change to the webhook endpoints that want it (a lifecycle part of the server).
 *
 * Queueing: woken by the event log's reader each time the log grows (this instance's changes and other
 * instances', jobs/job-change-log.ts), it reads the job event log after each endpoint's cursor and queues a
 * delivery per wanted event (webhook-store.ts: with several instances on PostgreSQL, one of them does each
 * endpoint). Idle, it asks the database nothing (issue 22): no poll; one timer sleeps until the next retry
 * falls due (or, with endpoints, LONGEST_SLEEP_MS at most: another instance's retries and lost claims).
 *
 * Delivering: it claims due deliveries per endpoint, at most WEBHOOK_CONCURRENCY in flight per endpoint
 * on this instance, so a slow or dead receiver holds its own slots and nobody else's, and the HTTP
 * requests never block the server (they are not awaited by anything that answers a request). Each is a
 * POST signed per Standard Webhooks (`standardwebhooks`), with `webhook-id` stable per event and a
 * timeout; a 2xx is delivered, anything else is tried again with backoff (retry-schedule.ts) until the
 * window is over. Everything lives in the database, so a restart or a crash loses nothing: a crashed
 * instance's claims come back when their lease runs out. At least once per event and endpoint.
 */
import { Webhook } from 'standardwebhooks';
import { type Logger, urlForLog, withoutUrlCredentials } from '../../runtime/logger';
import type { JobEvent } from '../jobs/job-service';
import { SerialRun } from '../serial-run';
import type { JobEventBounds } from '../store/print-store';
import { afterFailure, type RetryPolicy } from './retry-schedule';
import type { SecretBox } from './webhook-secrets';
import { eventTypeOf, uidTagOf, wants, webhookId, webhookPayload } from './webhook-events';
import type { AttemptOutcome, ClaimedDelivery, NewDelivery, WebhookStore } from '../store/webhook-store';

/** Events read from the log per queueing round of one endpoint. */
const PAGE = 500;
/** Beyond the request's own timeout, how long a claim is kept before another instance may retry it. */
const LEASE_MARGIN_MS = 30_000;
/** On stop, how long requests under way may finish before they are aborted (and given back). */
const DRAIN_MS = 2_000;
/** The abort reason of stop(), told apart from a timeout. */
const STOPPING = { stopping: true };
const PRUNE_EVERY_MS = 3_600_000;
/** With endpoints, the longest the dispatcher sleeps without a look at what is due (other instances' retries, crashed claims). */
const LONGEST_SLEEP_MS = 300_000;

export interface WebhookSettings {
  timeoutMs: number;
  retry: RetryPolicy;
  /** Requests in flight at once per endpoint, on this instance. */
  concurrency: number;
  /** With no endpoint known, how often job changes look for one added meanwhile (by `npm run webhooks`), at most. */
  pollMs: number;
  /** With endpoints, the longest sleep between two looks at what is due; absent: LONGEST_SLEEP_MS. */
  longestSleepMs?: number;
  /** Finished deliveries (delivered, failed) older than this are deleted, hourly; 0 keeps them. */
  keepMs: number;
  /** Finished deliveries older than this lose their payload (the job's text), hourly (WEBHOOK_PAYLOAD_DAYS); 0 or absent: kept. */
  payloadMs?: number;
  /** Why an endpoint's URL may not be sent to now (webhook-targets.ts, checked before each attempt); absent: no check. */
  checkTarget?: (url: string) => Promise<string | null>;
  /** Logged once when the first endpoint is seen (PostgreSQL without WEBHOOK_SECRET_KEY: other instances may not share the key file). */
  keyWarning?: string;
}

/** What sends one request: fetch in production; the result is a status code or an error. */
export type PostWebhook = (
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
) => Promise<number>;

export const postWithFetch: PostWebhook = async (url, body, headers, signal) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'Printhop-Webhooks', ...headers },
    body,
    redirect: 'manual',
    signal,
  });
  await res.body?.cancel().catch(() => undefined);
  return res.status;
};

/** Where the events come from: the job event log, and its wake-up when it grows (jobs/job-change-log.ts). */
export interface JobEventSource {
  eventsAfter(afterId: number, limit: number): Promise<JobEvent[]>;
  eventBounds(): Promise<JobEventBounds>;
  /** Returns what stops the listener. */
  onGrowth(listener: () => void): () => void;
}

interface Sender {
  url: string;
  webhook: Webhook;
}

export class WebhookDispatcher {
  readonly name = 'webhooks';
  private readonly log: Logger;
  /** The one timer: the next due retry, or the next look for endpoints. */
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** The next round also asks the store when the next delivery falls due (at start, and when the timer fired). */
  private lookAhead = true;
  private lastEndpointLook = -Infinity;
  /** One round at a time; a wake-up during a round makes one more. */
  private readonly rounds = new SerialRun(
    () => this.round(),
    (err) => this.log.error({ err }, 'webhook round failed; the next one retries'),
  );
  private queueWanted = true;
  /** Active endpoints at the last look: with none, job changes look for new ones at most every `pollMs`. */
  private endpointCount = 0;
  private lastPrune = 0;
  private warned = false;
  private stopped = false;
  private unwatch: (() => void) | null = null;
  /** Attempts under way, by endpoint. */
  private readonly inFlight = new Map<
    number,
    Set<{ claim: ClaimedDelivery; done: Promise<void>; abort: AbortController }>
  >();
  private readonly senders = new Map<number, Sender>();

  constructor(
    private readonly store: WebhookStore,
    private readonly jobs: JobEventSource,
    private readonly secrets: SecretBox,
    private readonly settings: WebhookSettings,
    log: Logger,
    private readonly post: PostWebhook = postWithFetch,
    private readonly now: () => number = Date.now,
  ) {
    this.log = log.child({ module: 'webhooks' });
  }

  start(): void {
    this.unwatch = this.jobs.onGrowth(this.onJob);
    this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.rounds.stop();
    const all = [...this.inFlight.values()].flatMap((set) => [...set]);
    if (!all.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(all.map((a) => a.done)),
      new Promise((resolve) => (timer = setTimeout(resolve, DRAIN_MS))),
    ]);
    clearTimeout(timer);
    for (const attempt of all) attempt.abort.abort(STOPPING);
    await Promise.all(all.map((a) => a.done));
  }

  /** Attempts under way on this instance. */
  get inFlightCount(): number {
    let n = 0;
    for (const set of this.inFlight.values()) n += set.size;
    return n;
  }

  /**
   * Looks again now: the endpoints (one was added or removed) and what is due (a delivery the admin asked to
   * retry now). Called by the admin page and API after their change.
   */
  wake(): void {
    if (this.stopped) return;
    this.queueWanted = true;
    this.pump();
  }

  private readonly onJob = (): void => {
    if (this.endpointCount === 0) {
      const next = this.lastEndpointLook + this.settings.pollMs;
      if (next > this.now()) return this.wakeAt(next);
    }
    this.queueWanted = true;
    this.pump();
  };

  /** Sets the timer for `at` (epoch ms) unless it already fires sooner. */
  private wakeAt(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        // Queueing too: job changes heard while no endpoint was known are queued by this round.
        this.queueWanted = true;
        this.lookAhead = true;
        this.pump();
      },
      Math.max(0, at - this.now()),
    );
    this.timer.unref();
  }

  private pump(): void {
    this.rounds.request();
  }

  private async round(): Promise<void> {
    if (this.queueWanted) {
      this.queueWanted = false;
      this.lastEndpointLook = this.now();
      const endpoints = await this.store.endpoints();
      this.endpointCount = endpoints.length;
      if (endpoints.length && this.settings.keyWarning && !this.warned) {
        this.warned = true;
        this.log.warn(this.settings.keyWarning);
      }
      const active = new Set(endpoints.map((e) => e.id));
      for (const id of this.senders.keys()) if (!active.has(id)) this.senders.delete(id);
      // Endpoints level with the log cost nothing; those behind share each page they read in this round.
      const newest = endpoints.length ? (await this.jobs.eventBounds()).last : 0;
      const pages = new Map<number, Promise<JobEvent[]>>();
      for (const endpoint of endpoints) {
        if (this.stopped) return;
        if (endpoint.lastEventId >= newest) continue;
        await this.queueFor(endpoint.id, pages).catch((err: unknown) =>
          this.log.error({ err, endpointId: endpoint.id }, 'webhook events not queued; the next round retries'),
        );
      }
    }
    if (this.stopped || this.endpointCount === 0) return;
    const now = this.now();
    for (const endpointId of await this.store.dueEndpoints(now)) {
      const free = this.settings.concurrency - (this.inFlight.get(endpointId)?.size ?? 0);
      if (free <= 0 || this.stopped) continue;
      const claims = await this.store.claim(endpointId, now, now + this.settings.timeoutMs + LEASE_MARGIN_MS, free);
      for (const claim of claims) this.begin(claim);
    }
    if (this.lookAhead) {
      // Asked only at start and when the timer fired: this instance's own retries set the timer themselves. What
      // is due yet not claimed now waits for a free slot (each attempt's end claims again), or 1 s at most.
      this.lookAhead = false;
      const due = await this.store.nextDueAt();
      const longest = now + (this.settings.longestSleepMs ?? LONGEST_SLEEP_MS);
      this.wakeAt(Math.min(due === null ? Infinity : due > now ? due : now + 1_000, longest));
    }
    const { keepMs, payloadMs = 0 } = this.settings;
    if ((keepMs > 0 || payloadMs > 0) && now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      if (keepMs > 0) {
        const count = await this.store.pruneDeliveries(now - keepMs);
        if (count) this.log.info({ count }, 'finished webhook deliveries pruned');
      }
      if (payloadMs > 0) {
        const count = await this.store.dropPayloads(now - payloadMs);
        if (count) this.log.info({ count }, 'payloads of finished webhook deliveries dropped (WEBHOOK_PAYLOAD_DAYS)');
      }
    }
  }

  /** Queues the endpoint's events after its cursor, a page at a time. */
  private async queueFor(endpointId: number, pages: Map<number, Promise<JobEvent[]>>): Promise<void> {
    for (;;) {
      let full = false;
      const queued = await this.store.queue(
        endpointId,
        async ({ events, lastEventId }) => {
          let read = pages.get(lastEventId);
          if (!read) pages.set(lastEventId, (read = this.jobs.eventsAfter(lastEventId, PAGE)));
          const page = await read;
          full = page.length === PAGE;
          if (!page.length) return null;
          const deliveries: NewDelivery[] = [];
          for (const event of page) {
            if (!event.job) continue; // pruned since: nothing left to say about it
            const type = eventTypeOf(event.job.status);
            if (!wants(events, type)) continue;
            deliveries.push({
              eventId: event.id,
              jobId: event.job.id,
              printerId: event.job.printerId,
              type,
              payload: JSON.stringify(webhookPayload(event.job)),
            });
          }
          return { deliveries, lastEventId: page.at(-1)!.id };
        },
        new Date(this.now()),
      );
      if (queued) this.log.debug({ endpointId, queued }, 'webhook deliveries queued');
      if (!full || queued === null || this.stopped) return;
    }
  }

  private begin(claim: ClaimedDelivery): void {
    const abort = new AbortController();
    let set = this.inFlight.get(claim.endpointId);
    if (!set) this.inFlight.set(claim.endpointId, (set = new Set()));
    const attempt = { claim, abort, done: Promise.resolve() };
    attempt.done = this.attempt(claim, abort)
      .catch((err: unknown) => {
        this.log.error(
          {
            err,
            deliveryId: claim.id,
            endpointId: claim.endpointId,
            jobId: claim.jobId,
            printerId: claim.printerId,
          },
          'webhook attempt not recorded; it is tried again once its lease runs out',
        );
        this.wakeAt(this.now() + this.settings.timeoutMs + LEASE_MARGIN_MS + 1_000);
      })
      .finally(() => {
        set.delete(attempt);
        this.pump(); // a free slot: claim what waits
      });
    set.add(attempt);
  }

  private async attempt(claim: ClaimedDelivery, abort: AbortController): Promise<void> {
    const context = {
      deliveryId: claim.id,
      endpointId: claim.endpointId,
      eventId: claim.eventId,
      type: claim.type,
      jobId: claim.jobId,
      printerId: claim.printerId,
      attempt: claim.attempts,
    };
    const startedAt = this.now();
    let sender: Sender | null;
    try {
      sender = await this.sender(claim.endpointId);
    } catch (err) {
      this.log.error({ ...context, err }, 'webhook not sent: its endpoint cannot be read');
      await this.failedAttempt(claim, context, startedAt, null, describe(err));
      return;
    }
    if (!sender) {
      if (await this.store.failed(claim, null, 'endpoint removed'))
        await this.record(claim, startedAt, null, 'endpoint removed', 'failed', null);
      return;
    }
    const logged = { ...context, endpoint: urlForLog(sender.url) };
    const refused = await this.settings.checkTarget?.(sender.url);
    if (refused) {
      await this.failedAttempt(claim, logged, startedAt, null, refused);
      return;
    }
    const id = webhookId(claim.eventId, uidTagOf(claim.payload));
    const timeout = setTimeout(() => abort.abort(new Error('timeout')), this.settings.timeoutMs);
    try {
      const at = this.now();
      const headers = {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at / 1000)),
        'webhook-signature': sender.webhook.sign(id, new Date(at), claim.payload),
      };
      const statusCode = await this.post(sender.url, claim.payload, headers, abort.signal);
      if (statusCode >= 200 && statusCode < 300) {
        if (await this.store.delivered(claim, statusCode, this.now())) {
          this.log.info({ ...logged, statusCode }, 'webhook delivered');
          await this.record(claim, startedAt, statusCode, null, 'delivered', null);
        }
        return;
      }
      await this.failedAttempt(claim, logged, startedAt, statusCode, `the receiver answered ${statusCode}`);
    } catch (err) {
      if (abort.signal.reason === STOPPING) {
        // Aborted by stop(): given back, due now, for the next start or another instance.
        await this.store.release(claim, this.now());
        this.log.info(logged, 'webhook attempt given back (server stopping)');
        return;
      }
      const error = abort.signal.aborted ? `no answer within ${this.settings.timeoutMs} ms` : describe(err);
      await this.failedAttempt(claim, logged, startedAt, null, error);
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Another try later, or `failed` once the retry window is over. */
  private async failedAttempt(
    claim: ClaimedDelivery,
    context: Record<string, unknown>,
    startedAt: number,
    statusCode: number | null,
    error: string,
  ): Promise<void> {
    const next = afterFailure(this.settings.retry, claim, this.now());
    if ('failed' in next) {
      if (await this.store.failed(claim, statusCode, error)) {
        this.log.warn({ ...context, statusCode, error }, 'webhook failed: no more retries');
        await this.record(claim, startedAt, statusCode, error, 'failed', null);
      }
    } else if (await this.store.retryLater(claim, next.retryAt, statusCode, error)) {
      this.log.info(
        { ...context, statusCode, error, retryAt: new Date(next.retryAt).toISOString() },
        'webhook attempt failed; retrying later',
      );
      await this.record(claim, startedAt, statusCode, error, 'retry', next.retryAt);
      this.wakeAt(next.retryAt);
    }
  }

  /** The attempt into the delivery log (webhook_attempts), once its result is the delivery's. */
  private async record(
    claim: ClaimedDelivery,
    startedAt: number,
    statusCode: number | null,
    error: string | null,
    outcome: AttemptOutcome,
    nextAttemptAt: number | null,
  ): Promise<void> {
    await this.store.recordAttempt({
      deliveryId: claim.id,
      endpointId: claim.endpointId,
      attempt: claim.attempts,
      startedAt,
      durationMs: this.now() - startedAt,
      statusCode,
      error,
      outcome,
      nextAttemptAt,
    });
  }

  /** The endpoint's URL and signer (its secret decrypted once), or null when it was removed. */
  private async sender(endpointId: number): Promise<Sender | null> {
    const known = this.senders.get(endpointId);
    if (known) return known;
    const endpoint = await this.store.endpointForSending(endpointId);
    if (!endpoint) return null;
    const sender = { url: endpoint.url, webhook: new Webhook(this.secrets.open(endpoint.secretSealed)) };
    this.senders.set(endpointId, sender);
    return sender;
  }
}

/** A network error as a short text, without the request (its URL may carry credentials). */
function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return withoutUrlCredentials(cause ? `${e.message ?? 'request failed'} (${cause})` : (e.message ?? String(err)));
}
