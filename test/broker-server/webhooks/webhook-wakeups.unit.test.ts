/**
 * The webhook dispatcher asks the database nothing while idle (issue 22): no poll; the event log's signal
 * wakes it for a new job, and one timer for the next retry. A store that counts the calls made through it.
 * The clock is the test's (support/fake-time.ts): seconds of idling take milliseconds, and any timer the
 * dispatcher sets (a poll's included) fires as the test moves the clock.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { JobEvent } from '../../../broker-server/jobs/job-service';
import { type PostWebhook, WebhookDispatcher } from '../../../broker-server/webhooks/webhook-dispatcher';
import { SecretBox } from '../../../broker-server/webhooks/webhook-secrets';
import type { WebhookStore } from '../../../broker-server/store/webhook-store';
import { testLogger } from '../../support/basics';
import { fakeTime } from '../../support/fake-time';
import { MemoryWebhookStore } from '../../support/memory-webhook-store';

const secrets = new SecretBox('a key of the server, long enough');
/** How long the idle dispatcher is watched: the poll it replaced would have asked 300 times meanwhile. */
const IDLE_MS = 3_000;

/** The store, and every call made through its interface, by method name. */
function countingStore(inner: MemoryWebhookStore): { store: WebhookStore; calls: string[] } {
  const calls: string[] = [];
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

/** A job event log in memory whose growth the test signals, as jobs/job-change-log.ts does. */
function eventLog() {
  const events: JobEvent[] = [];
  const listeners = new Set<() => void>();
  return {
    source: {
      eventsAfter: async (after: number, limit: number) => events.filter((e) => e.id > after).slice(0, limit),
      eventBounds: async () => ({ first: events[0]?.id ?? null, last: events.at(-1)?.id ?? 0 }),
      onGrowth: (listener: () => void) => {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    },
    add(id: number) {
      const at = new Date().toISOString();
      events.push({
        id,
        job: {
          id,
          uid: `0b6f81c2-0000-4000-8000-${String(id).padStart(12, '0')}`,
          printerId: 'printer-1',
          content: 'x',
          status: 'pending',
          createdAt: at,
          updatedAt: at,
        },
      } as unknown as JobEvent);
      for (const listener of listeners) listener();
    },
  };
}

function startDispatcher(
  t: TestContext,
  store: WebhookStore,
  source: ReturnType<typeof eventLog>['source'],
  post: PostWebhook,
  retryMs = 60_000,
) {
  const dispatcher = new WebhookDispatcher(
    store,
    source,
    secrets,
    {
      timeoutMs: 1_000,
      retry: { minMs: retryMs, maxMs: retryMs, windowMs: 3_600_000 },
      concurrency: 2,
      // The old poll's period, short: had it stayed, the idle test would count hundreds of calls.
      pollMs: 10,
      keepMs: 0,
    },
    testLogger(),
    post,
  );
  dispatcher.start();
  t.after(() => dispatcher.stop());
  return dispatcher;
}

/** A dispatcher on `inner` behind a store that counts its calls, whose receiver answers 204 and keeps each body. */
function startCountedDispatcher(t: TestContext, inner: MemoryWebhookStore) {
  const { store, calls } = countingStore(inner);
  const log = eventLog();
  const posted: string[] = [];
  startDispatcher(t, store, log.source, async (_url, body) => {
    posted.push(body);
    return 204;
  });
  return { calls, log, posted };
}

/** IDLE_MS of fake time pass without a single store call. */
async function assertNoStoreCallWhileIdle(time: ReturnType<typeof fakeTime>, calls: string[]): Promise<void> {
  const before = calls.length;
  await time.advance(IDLE_MS, 10);
  assert.deepEqual(calls.slice(before), [], `no store call in ${IDLE_MS} ms idle`);
}

test('idle with an endpoint and nothing due, the dispatcher makes no store call; a new job is still delivered at once', async (t) => {
  const time = fakeTime(t);
  const inner = new MemoryWebhookStore();
  await inner.addEndpoint('https://receiver.example/hook', '*', secrets.seal('whsec_dGVzdA=='), new Date());
  const { calls, log, posted } = startCountedDispatcher(t, inner);
  // The start round ends with the look at what is due next.
  await time.until('the start round', () => calls.includes('nextDueAt'));
  await assertNoStoreCallWhileIdle(time, calls);

  log.add(1);
  await time.until('the new job delivered', () => posted.length === 1 && inner.deliveryRows[0]?.status === 'delivered');
  assert.equal(inner.attemptRows.length, 1);
});

test('with no endpoint, idle is silent too; an endpoint added by the command is found at the next job', async (t) => {
  const time = fakeTime(t);
  const inner = new MemoryWebhookStore();
  const { calls, log, posted } = startCountedDispatcher(t, inner);
  await time.until('the start round', () => calls.includes('endpoints'));
  await assertNoStoreCallWhileIdle(time, calls);

  // As `npm run webhooks -- add` does from another process: the dispatcher is not told.
  await inner.addEndpoint('https://receiver.example/hook', '*', secrets.seal('whsec_dGVzdA=='), new Date());
  log.add(1);
  await time.until('the job delivered to the new endpoint', () => posted.length === 1);
});

test('after a failed attempt, the dispatcher sleeps until the retry is due, then sends it', async (t) => {
  const time = fakeTime(t);
  const inner = new MemoryWebhookStore();
  await inner.addEndpoint('https://receiver.example/hook', '*', secrets.seal('whsec_dGVzdA=='), new Date());
  const { store, calls } = countingStore(inner);
  const log = eventLog();
  const answers = [500];
  const sentAt: number[] = [];
  startDispatcher(
    t,
    store,
    log.source,
    async () => {
      sentAt.push(Date.now());
      return answers.shift() ?? 204;
    },
    2_000,
  );
  await time.until('the start round', () => calls.includes('nextDueAt'));
  log.add(1);
  await time.until('the retry planned', () => inner.attemptRows.length === 1);
  const before = calls.length;
  await time.until('delivered on retry', () => inner.deliveryRows[0]?.status === 'delivered', 15_000);
  assert.ok(sentAt[1]! - sentAt[0]! >= 1_000 - 50, 'not before it was due (1 to 2 s, with jitter)');
  // Between the two: the timer's one round (endpoints, bounds, due, claim) and the attempt's writes; never a poll.
  const between = calls.slice(before);
  assert.ok(between.length <= 12, `a handful of calls, not a poll: ${between.join(', ')}`);
});
