/**
 * Webhook rules with fakes: the backoff schedule, the event filter, secrets at rest, and the dispatcher on an
 * in-memory store with a fake receiver; its retries and timeouts on the test's clock (support/fake-time.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { ConfigError, loadServerConfig } from '../../../config';
import type { JobEvent, PrintJob } from '../../../broker-server/jobs/job-service';
import { type PostWebhook, WebhookDispatcher } from '../../../broker-server/webhooks/webhook-dispatcher';
import {
  eventTypeOf,
  parseEventFilter,
  WEBHOOK_EVENT_TYPES,
  wants,
  webhookPayload,
} from '../../../broker-server/webhooks/webhook-events';
import { newWebhookSecret, SecretBox, SecretUnreadable } from '../../../broker-server/webhooks/webhook-secrets';
import { afterFailure, backoffMs, type RetryPolicy } from '../../../broker-server/webhooks/retry-schedule';
import { JOB_STATUSES, type JobStatus } from '../../../protocol/states';
import { testLogger, waitFor } from '../../support/basics';
import { fakeTime } from '../../support/fake-time';
import { MemoryWebhookStore } from '../../support/memory-webhook-store';
import { uidOf } from '../../support/job-uids';

const policy: RetryPolicy = { minMs: 5_000, maxMs: 3_600_000, windowMs: 24 * 3_600_000 };

test('backoff doubles from the minimum up to the maximum, each wait between half and all of its step', () => {
  const steps = [1, 2, 3, 4, 5].map((n) => backoffMs(policy, n, 0.99999999999));
  assert.deepEqual(steps, [5_000, 10_000, 20_000, 40_000, 80_000]);
  assert.deepEqual(
    [1, 2, 3].map((n) => backoffMs(policy, n, 0)),
    [2_500, 5_000, 10_000],
  );
  assert.equal(backoffMs(policy, 30, 0.99999999999), 3_600_000, 'capped');
  assert.equal(backoffMs(policy, 10_000, 0.5), 2_700_000, 'no overflow however many attempts');
  for (let i = 0; i < 200; i++) {
    const wait = backoffMs(policy, 3, Math.random());
    assert.ok(wait >= 10_000 && wait <= 20_000, String(wait));
  }
});

test('a failed delivery is retried until the window after its queueing is over, the last try on the deadline, then failed', () => {
  const createdAt = 1_000_000;
  assert.deepEqual(afterFailure(policy, { attempts: 1, createdAt }, createdAt + 100, 0), {
    retryAt: createdAt + 100 + 2_500,
  });
  const deadline = createdAt + policy.windowMs;
  assert.deepEqual(afterFailure(policy, { attempts: 20, createdAt }, deadline - 60_000, 0.9), { retryAt: deadline });
  assert.deepEqual(afterFailure(policy, { attempts: 21, createdAt }, deadline, 0.1), { failed: true });
  // A whole day of failures, with the middle of the jitter: about 42 tries (hourly once the waits reach the cap).
  let now = createdAt;
  let attempts = 0;
  for (;;) {
    attempts++;
    const next = afterFailure(policy, { attempts, createdAt }, now, 0.5);
    if ('failed' in next) break;
    now = next.retryAt;
  }
  assert.ok(attempts > 35 && attempts < 50, `${attempts} tries in 24 h`);
});

test('event types: one per job status; the filter takes known types (canonical order), * or nothing for all, and names the valid ones otherwise', () => {
  assert.deepEqual(
    JOB_STATUSES.map((s) => eventTypeOf(s)),
    ['job.created', 'job.sent', 'job.received', 'job.printed', 'job.failed', 'job.interrupted'],
  );
  assert.deepEqual(parseEventFilter(undefined), { ok: true, value: '*' });
  assert.deepEqual(parseEventFilter('*'), { ok: true, value: '*' });
  assert.deepEqual(parseEventFilter(' job.failed , job.printed,job.failed'), {
    ok: true,
    value: 'job.printed,job.failed',
  });
  const unknown = parseEventFilter('job.printed,job.done,printed');
  assert.equal(unknown.ok, false);
  assert.match(
    !unknown.ok ? unknown.error : '',
    /unknown event types job\.done, printed; valid event types: job\.created, /,
  );
  assert.equal(parseEventFilter(',').ok, false);
  assert.equal(parseEventFilter('*,job.printed').ok, false);
  for (const type of WEBHOOK_EVENT_TYPES) assert.ok(wants('*', type));
  assert.ok(wants('job.printed,job.failed', 'job.failed'));
  assert.ok(!wants('job.printed,job.failed', 'job.created'));
  assert.ok(!wants('job.printed', 'job.sent'));
});

test('secrets are sealed with AES-256-GCM: the ciphertext hides them, another key cannot open them, tampering is caught', () => {
  const secret = newWebhookSecret();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.doesNotThrow(() => new Webhook(secret));
  const box = new SecretBox('a key of the server, long enough');
  const sealed = box.seal(secret);
  assert.ok(!sealed.includes(secret.slice(6, 20)));
  assert.notEqual(box.seal(secret), sealed, 'a fresh IV each time');
  assert.equal(box.open(sealed), secret);
  assert.throws(() => new SecretBox('another key of the server, long').open(sealed), SecretUnreadable);
  const [v, iv, tag, body] = sealed.split('.');
  const flipped = body!.slice(0, -2) + (body!.at(-2) === 'A' ? 'B' : 'A') + body!.at(-1)!;
  assert.throws(() => box.open([v, iv, tag, flipped].join('.')), SecretUnreadable);
  assert.throws(() => box.open('plain text'), SecretUnreadable);
});

function job(id: number, status: JobStatus): PrintJob {
  const at = new Date().toISOString();
  return {
    id,
    uid: uidOf(id),
    printerId: 'printer-1',
    content: `job ${id}`,
    kind: 'message',
    status,
    error: null,
    reprintOf: null,
    createdBy: 'anonymous',
    createdAt: at,
    updatedAt: at,
    sentAt: null,
    receivedAt: null,
    printedAt: null,
    finishedAt: null,
  };
}

/** The log's side the dispatcher uses: its events, and its wake-up when it grows. */
class FakeEventLog {
  readonly events: JobEvent[] = [];
  private readonly listeners = new Set<() => void>();
  add(j: PrintJob): void {
    this.events.push({ id: this.events.length + 1, job: j });
    for (const listener of this.listeners) listener();
  }
  onGrowth(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  async eventBounds() {
    return { first: this.events.length ? 1 : null, last: this.events.length };
  }
  async eventsAfter(afterId: number, limit: number): Promise<JobEvent[]> {
    return this.events.filter((e) => e.id > afterId).slice(0, limit);
  }
}

interface Received {
  url: string;
  id: string;
  at: number;
  body: string;
}

async function dispatcherWith(post: PostWebhook, settings: { timeoutMs?: number; retry?: RetryPolicy } = {}) {
  const store = new MemoryWebhookStore();
  const log = new FakeEventLog();
  const box = new SecretBox('a key of the server, long enough');
  const secret = newWebhookSecret();
  const dispatcher = new WebhookDispatcher(
    store,
    log,
    box,
    {
      timeoutMs: settings.timeoutMs ?? 1_000,
      retry: settings.retry ?? { minMs: 20, maxMs: 80, windowMs: 60_000 },
      concurrency: 2,
      pollMs: 10,
      keepMs: 0,
    },
    testLogger(),
    post,
  );
  const add = (url: string, events = '*') => store.addEndpoint(url, events, box.seal(secret), new Date());
  return { store, log, dispatcher, secret, add };
}

test('each wanted event is queued once per endpoint and posted signed (Standard Webhooks), with a webhook-id per event', async (t) => {
  const received: Received[] = [];
  const { store, log, dispatcher, secret, add } = await dispatcherWith(async (url, body, headers) => {
    new Webhook(secret).verify(body, headers);
    received.push({ url, id: headers['webhook-id']!, at: Date.now(), body });
    return 204;
  });
  await add('http://all.test/');
  await add('http://printed.test/', 'job.printed,job.failed');
  dispatcher.start();
  t.after(() => dispatcher.stop());
  for (const status of ['pending', 'sent', 'received', 'printed'] as const) log.add(job(1, status));
  await waitFor('5 deliveries', () => store.deliveryRows.filter((d) => d.status === 'delivered').length === 5);
  const all = received.filter((r) => r.url === 'http://all.test/');
  assert.deepEqual(
    all.map((r) => r.id),
    ['evt_1_00000000', 'evt_2_00000000', 'evt_3_00000000', 'evt_4_00000000'],
  );
  assert.deepEqual(
    all.map((r) => (JSON.parse(r.body) as { type: string }).type),
    ['job.created', 'job.sent', 'job.received', 'job.printed'],
  );
  const printed = received.filter((r) => r.url === 'http://printed.test/');
  assert.deepEqual(
    printed.map((r) => r.id),
    ['evt_4_00000000'],
  );
  const body = JSON.parse(printed[0]!.body) as ReturnType<typeof webhookPayload>;
  assert.deepEqual(
    [body.type, body.data.id, body.data.status, body.timestamp],
    ['job.printed', 1, 'printed', body.data.updatedAt],
  );
  assert.equal(store.endpointRows[1]!.lastEventId, 4, 'the cursor passes the events the filter skips');
});

test('a receiver that keeps failing is retried with growing waits and the same webhook-id, then failed when the window is over', async (t) => {
  const time = fakeTime(t);
  const received: Received[] = [];
  const { store, log, dispatcher, add } = await dispatcherWith(
    async (url, body, headers) => {
      received.push({ url, id: headers['webhook-id']!, at: Date.now(), body });
      return 503;
    },
    { retry: { minMs: 20, maxMs: 160, windowMs: 700 } },
  );
  await add('http://down.test/', 'job.created');
  dispatcher.start();
  t.after(() => dispatcher.stop());
  log.add(job(1, 'pending'));
  const failed = await time.until('failed', () => store.deliveryRows.find((d) => d.status === 'failed'));
  assert.ok(received.length >= 5, `${received.length} tries`);
  assert.equal(failed.attempts, received.length);
  assert.equal(failed.lastStatusCode, 503);
  assert.equal(failed.lastError, 'the receiver answered 503');
  assert.deepEqual(new Set(received.map((r) => r.id)), new Set(['evt_1_00000000']));
  const gaps = received.slice(1).map((r, i) => r.at - received[i]!.at);
  assert.ok(gaps[0]! < 100, `first wait ${gaps[0]} ms`);
  assert.ok(Math.max(...gaps) >= 80, `waits grow: ${gaps.join(', ')}`);
  const span = received.at(-1)!.at - failed.createdAt;
  assert.ok(span >= 650 && span < 1_200, `last try ${span} ms after queueing`);
});

test('a receiver that never answers holds only its own slots; its attempts time out; stop gives back what is under way', async (t) => {
  const time = fakeTime(t);
  const healthy: Received[] = [];
  let deadCalls = 0;
  const { store, log, dispatcher, add } = await dispatcherWith(
    (url, body, headers, signal) => {
      if (url === 'http://dead.test/') {
        deadCalls++;
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
      }
      healthy.push({ url, id: headers['webhook-id']!, at: Date.now(), body });
      return Promise.resolve(200);
    },
    { timeoutMs: 1_000, retry: { minMs: 5_000, maxMs: 5_000, windowMs: 60_000 } },
  );
  await add('http://dead.test/');
  await add('http://ok.test/');
  const started = Date.now();
  dispatcher.start();
  let stopped = false;
  t.after(() => (stopped ? undefined : dispatcher.stop()));
  for (let i = 1; i <= 10; i++) log.add(job(i, 'pending'));
  await time.until('10 healthy deliveries', () => healthy.length === 10);
  assert.ok(Date.now() - started < 1_000, 'the healthy receiver did not wait for the dead one (1 s timeout)');
  assert.equal(deadCalls, 2, 'two requests at once per endpoint');
  await time.until(
    'timeouts',
    () => store.deliveryRows.filter((d) => d.lastError === 'no answer within 1000 ms').length >= 2,
  );
  await time.until('two more in flight', () => dispatcher.inFlightCount === 2);
  // stop() waits for what is under way (up to 2 s): on this clock, the test moves time until it is done.
  void dispatcher.stop().then(() => (stopped = true));
  await time.until('stopped', () => stopped);
  const dead = store.deliveryRows.filter((d) => d.endpointId === 1);
  assert.equal(dead.filter((d) => d.status === 'delivering').length, 0, 'nothing left claimed');
  assert.equal(dead.filter((d) => d.status === 'pending').length, 10, 'every dead delivery waits for the next start');
});

test('webhook settings: defaults, and bad values named (the key never shown)', () => {
  assert.deepEqual(loadServerConfig({}).webhooks, {
    secretKey: null,
    timeoutMs: 10_000,
    retryWindowMs: 24 * 3_600_000,
    retryMinMs: 5_000,
    retryMaxMs: 3_600_000,
    concurrency: 4,
    pollMs: 1_000,
    allowPrivate: false,
    payloadMs: 3 * 86_400_000,
  });
  assert.throws(
    () => loadServerConfig({ WEBHOOK_SECRET_KEY: 'short-secret', WEBHOOK_RETRY_HOURS: '0', WEBHOOK_CONCURRENCY: 'x' }),
    (err: ConfigError) =>
      err.problems.length === 3 &&
      /WEBHOOK_SECRET_KEY=\(hidden\): must be at least 16/.test(err.message) &&
      !err.message.includes('short-secret') &&
      /WEBHOOK_RETRY_HOURS="0": must be a number of hours above 0/.test(err.message),
  );
  assert.throws(
    () => loadServerConfig({ WEBHOOK_RETRY_MIN_MS: '60000', WEBHOOK_RETRY_MAX_MS: '1000' }),
    /WEBHOOK_RETRY_MAX_MS=1000: must be at least WEBHOOK_RETRY_MIN_MS/,
  );
});
