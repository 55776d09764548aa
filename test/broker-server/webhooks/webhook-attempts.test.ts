/**
 * The webhook delivery log (issue 23): every attempt is a row of `webhook_attempts` (time, HTTP status or
 * error, duration, next retry), "retry now" brings a waiting or failed delivery back at once, and the log
 * is pruned with its deliveries (JOB_RETENTION_DAYS) and their payloads (WEBHOOK_PAYLOAD_DAYS). The real
 * SQL store on SQLite and PostgreSQL, the real dispatcher, a fake receiver.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryTypes } from 'sequelize';
import type { Database } from '../../../broker-server/store/database';
import { WebhookAdmin, WebhookAdminError } from '../../../broker-server/webhooks/webhook-admin';
import { WebhookDispatcher } from '../../../broker-server/webhooks/webhook-dispatcher';
import { SecretBox } from '../../../broker-server/webhooks/webhook-secrets';
import { type WebhookStore } from '../../../broker-server/store/webhook-store';
import { MemoryWebhookStore } from '../../support/memory-webhook-store';
import { startTestDatabase, testEachDatabase, testLogger, waitFor } from '../../support/harness';

const secrets = new SecretBox('a key of the server, long enough');
const noEvents = {
  eventsAfter: async () => [],
  eventBounds: async () => ({ first: null, last: 0 }),
  onGrowth: () => () => undefined,
};

/** Queues deliveries for events 1..n of `endpointId`, as queued at `at`. */
async function queueEvents(store: WebhookStore, endpointId: number, n: number, at: Date, from = 1): Promise<void> {
  const ids = Array.from({ length: n }, (_, i) => from + i);
  await store.queue(
    endpointId,
    async () => ({
      deliveries: ids.map((id) => ({
        eventId: id,
        jobId: id,
        printerId: 'printer-1',
        type: 'job.created',
        payload: `{"type":"job.created","data":{"id":${id}}}`,
      })),
      lastEventId: ids.at(-1)!,
    }),
    at,
  );
}

const attemptCount = async (db: Database) =>
  Number(
    (
      await db.sequelize.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM webhook_attempts', {
        type: QueryTypes.SELECT,
      })
    )[0]!.n,
  );

testEachDatabase(
  'each attempt is logged (status, duration, next retry); retry now sends a waiting delivery at once and logs its success',
  async (t, dialect) => {
    const db = await startTestDatabase(t, dialect);
    const store = db.createWebhookStore();
    const answers = [500];
    const received: string[] = [];
    const dispatcher = new WebhookDispatcher(
      store,
      noEvents,
      secrets,
      {
        timeoutMs: 1_000,
        // The first retry is a minute away: only "retry now" brings it back within the test.
        retry: { minMs: 60_000, maxMs: 60_000, windowMs: 3_600_000 },
        concurrency: 1,
        pollMs: 60_000,
        keepMs: 0,
      },
      testLogger(),
      async (_url, body) => {
        received.push(body);
        return answers.shift() ?? 204;
      },
    );
    const admin = new WebhookAdmin(store, secrets, { allowPrivate: true, wake: () => dispatcher.wake() });
    const { endpoint, secret } = await admin.add('https://receiver.example/hook', ['job.created', 'job.failed']);
    assert.match(secret, /^whsec_/);
    assert.equal(endpoint.events, 'job.created,job.failed');
    await queueEvents(store, endpoint.id, 1, new Date());
    const before = Date.now();
    await dispatcher.start();
    t.after(() => dispatcher.stop());

    await waitFor('the failed attempt logged', async () => (await admin.attempts({ limit: 10 })).length === 1);
    const [failed] = await admin.attempts({ limit: 10 });
    const [delivery] = await admin.deliveries({ limit: 10 });
    assert.equal(delivery!.status, 'pending');
    assert.equal(failed!.deliveryId, delivery!.id);
    assert.equal(failed!.endpointId, endpoint.id);
    assert.equal(failed!.attempt, 1);
    assert.equal(failed!.statusCode, 500);
    assert.equal(failed!.error, 'the receiver answered 500');
    assert.equal(failed!.outcome, 'retry');
    assert.ok(Date.parse(failed!.at) >= before - 1000);
    assert.ok(failed!.durationMs >= 0 && failed!.durationMs < 10_000);
    assert.equal(failed!.nextAttemptAt, delivery!.nextAttemptAt, 'the next retry, as the delivery has it');
    assert.ok(Date.parse(failed!.nextAttemptAt!) >= Date.now() + 20_000, 'a minute (with jitter) away');

    await admin.retryNow(delivery!.id);
    await waitFor(
      'delivered after retry now',
      async () => (await admin.deliveries({ limit: 1 }))[0]!.status === 'delivered',
    );
    const log = await admin.attempts({ deliveryId: delivery!.id, limit: 10 });
    assert.deepEqual(
      log.map((a) => [a.attempt, a.outcome, a.statusCode, a.error, a.nextAttemptAt]),
      [
        [2, 'delivered', 204, null, null],
        [1, 'retry', 500, 'the receiver answered 500', failed!.nextAttemptAt],
      ],
      'newest first',
    );
    assert.equal(received.length, 2);
    assert.equal(received[0], received[1], 'the same bytes each time');

    // Retry now again: delivered already; an unknown delivery: 404.
    await assert.rejects(
      admin.retryNow(delivery!.id),
      (e: unknown) => e instanceof WebhookAdminError && e.status === 409,
    );
    await assert.rejects(admin.retryNow(9999), (e: unknown) => e instanceof WebhookAdminError && e.status === 404);
    assert.equal(await attemptCount(db), 2, 'a refused retry is no attempt');
  },
);

testEachDatabase(
  'retry now: a failed delivery gets one more attempt; never one whose payload was dropped or whose endpoint was removed',
  async (t, dialect) => {
    const db = await startTestDatabase(t, dialect);
    const store = db.createWebhookStore();
    const endpoint = await store.addEndpoint('https://example.com/hook', '*', secrets.seal('whsec_x'), new Date());
    const old = Date.now() - 4 * 86_400_000;
    await queueEvents(store, endpoint.id, 2, new Date(old));
    const [a, b] = await store.claim(endpoint.id, Date.now(), Date.now() + 60_000, 2);
    assert.ok(await store.failed(a!, 500, 'the receiver answered 500'));
    assert.ok(await store.failed(b!, null, 'connect ECONNREFUSED'));
    assert.equal(await store.nextDueAt(), null, 'nothing waits');
    const now = Date.now();
    assert.equal(await store.retryNow(a!.id, now), null);
    assert.equal(await store.nextDueAt(), now, 'due now');
    const [again] = await store.claim(endpoint.id, now, now + 60_000, 5);
    assert.equal(again!.id, a!.id);
    assert.equal(again!.attempts, 2, 'its next attempt number');
    assert.equal(await store.nextDueAt(), now + 60_000, 'a claim is due again when its lease runs out');

    await store.dropPayloads(Date.now() - 3 * 86_400_000);
    assert.equal(await store.retryNow(b!.id, now), 'payload-dropped');
    assert.equal(await store.retryNow(a!.id, now), 'delivering');
    await store.removeEndpoint(endpoint.id, new Date());
    assert.equal(await store.retryNow(a!.id, now), 'endpoint-removed');
    assert.equal(await store.retryNow(12345, now), 'missing');
    assert.equal(await store.nextDueAt(), null, 'a removed endpoint’s deliveries are never due');
  },
);

testEachDatabase(
  'the delivery log is bounded: a finished delivery’s attempts go with its payload (WEBHOOK_PAYLOAD_DAYS) and with the delivery (retention); a waiting one keeps them',
  async (t, dialect) => {
    const db = await startTestDatabase(t, dialect);
    const store = db.createWebhookStore();
    const endpoint = await store.addEndpoint('https://example.com/hook', '*', secrets.seal('whsec_x'), new Date());
    const old = Date.now() - 10 * 86_400_000;
    await queueEvents(store, endpoint.id, 3, new Date(old));
    const claims = await store.claim(endpoint.id, Date.now(), Date.now() + 60_000, 3);
    const log = (deliveryId: number, outcome: 'delivered' | 'retry' | 'failed', statusCode: number | null) =>
      store.recordAttempt({
        deliveryId,
        endpointId: endpoint.id,
        attempt: 1,
        startedAt: Date.now(),
        durationMs: 12,
        statusCode,
        error: statusCode === 204 ? null : 'http://user:secret@host/ refused',
        outcome,
        nextAttemptAt: outcome === 'retry' ? Date.now() + 60_000 : null,
      });
    await store.delivered(claims[0]!, 204, Date.now());
    await log(claims[0]!.id, 'delivered', 204);
    await store.failed(claims[1]!, 500, 'the receiver answered 500');
    await log(claims[1]!.id, 'failed', 500);
    await store.retryLater(claims[2]!, Date.now() + 60_000, 503, 'the receiver answered 503');
    await log(claims[2]!.id, 'retry', 503);
    assert.equal(await attemptCount(db), 3);
    const [masked] = await store.attempts({ deliveryId: claims[1]!.id, limit: 5 });
    assert.ok(!masked!.error!.includes('secret'), 'a URL’s password is never kept nor shown');

    // WEBHOOK_PAYLOAD_DAYS: the finished ones' attempts go with their payloads.
    await store.dropPayloads(Date.now() - 3 * 86_400_000);
    assert.deepEqual(
      (await store.attempts({ limit: 10 })).map((a) => a.deliveryId),
      [claims[2]!.id],
    );
    // Retention: the delivery and whatever log it still has go together.
    const other = await store.addEndpoint('https://example.com/other', '*', secrets.seal('whsec_y'), new Date());
    await queueEvents(store, other.id, 1, new Date(old), 4);
    const [fourth] = await store.claim(other.id, Date.now(), Date.now() + 60_000, 5);
    assert.equal(fourth!.eventId, 4);
    await store.failed(fourth!, 500, 'x');
    await store.recordAttempt({
      deliveryId: fourth!.id,
      endpointId: other.id,
      attempt: 1,
      startedAt: Date.now(),
      durationMs: 3,
      statusCode: 500,
      error: 'x',
      outcome: 'failed',
      nextAttemptAt: null,
    });
    assert.equal(await attemptCount(db), 2);
    assert.equal(await store.pruneDeliveries(Date.now() - 5 * 86_400_000), 3);
    assert.deepEqual(
      (await store.attempts({ limit: 10 })).map((a) => a.deliveryId),
      [claims[2]!.id],
      'the waiting delivery keeps its log',
    );
  },
);

test('the in-memory store follows the same retry-now and retention rules', async () => {
  const store = new MemoryWebhookStore();
  const endpoint = await store.addEndpoint('https://example.com/hook', '*', 'sealed', new Date());
  await queueEvents(store, endpoint.id, 1, new Date(Date.now() - 10 * 86_400_000));
  const [claim] = await store.claim(endpoint.id, Date.now(), Date.now() + 60_000, 1);
  await store.failed(claim!, 500, 'x');
  await store.recordAttempt({
    deliveryId: claim!.id,
    endpointId: endpoint.id,
    attempt: 1,
    startedAt: Date.now(),
    durationMs: 1,
    statusCode: 500,
    error: 'x',
    outcome: 'failed',
    nextAttemptAt: null,
  });
  assert.equal(await store.retryNow(claim!.id, 5), null);
  assert.equal(await store.nextDueAt(), 5);
  assert.equal(await store.pruneDeliveries(Date.now()), 0, 'pending: kept');
  assert.equal((await store.attempts({ limit: 5 })).length, 1);
});
