/**
 * Webhook endpoints, hardened (issue 20): a URL's credentials are refused at `add` and never shown in an
 * answer or a log line. The real `npm run webhooks` command as a child process, the server over loopback.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { QueryTypes } from 'sequelize';
import { Database } from '../../../broker-server/store/database';
import { WebhookDispatcher } from '../../../broker-server/webhooks/webhook-dispatcher';
import { SecretBox } from '../../../broker-server/webhooks/webhook-secrets';
import { type WebhookDelivery } from '../../../broker-server/store/webhook-store';
import { MemoryWebhookStore } from '../../support/memory-webhook-store';
import { testWebhookConfig } from '../../support/webhook-config';
import { runServerCommand } from '../../support/child-programs';
import {
  captureLogger,
  postJson,
  startTestDatabase,
  startTestServer,
  testEachDatabase,
  testLogger,
  type TestServer,
  waitFor,
} from '../../support/harness';

const webhooks = (server: TestServer, args: string[], env: Record<string, string> = {}) =>
  runServerCommand(server, 'broker-server/webhooks-command.ts', args, { env });

const settings = testWebhookConfig({ timeoutMs: 1_000, pollMs: 100 });

const PASSWORD = 'hunter2-webhook-password';

test('a webhook URL with a user name or password is refused at add (exit 2, nothing stored); one already stored never shows its password', async (t) => {
  const logs = captureLogger('debug');
  const server = await startTestServer(t, { mqttPort: -1, webhooks: settings }, { log: logs.log });
  for (const url of [`http://user:${PASSWORD}@127.0.0.1:9/x`, `https://${PASSWORD}@example.com/hook`]) {
    const added = await webhooks(server, ['add', url], { WEBHOOK_ALLOW_PRIVATE: 'true' });
    assert.equal(added.code, 2, added.stderr);
    assert.match(added.stderr, /must not carry a user name or password/);
    assert.ok(!`${added.stdout}${added.stderr}`.includes(PASSWORD), 'not repeated');
  }
  assert.equal((await webhooks(server, ['list'])).stdout.trim(), 'no webhook endpoints', 'nothing stored');

  // An endpoint stored before this check: its URL's password is never in an answer or a log line.
  const added = await webhooks(server, ['add', 'http://127.0.0.1:9/x'], { WEBHOOK_ALLOW_PRIVATE: 'true' });
  assert.equal(added.code, 0, added.stderr);
  const db = new Database({ dataDir: server.dataDir, databaseUrl: null }, testLogger());
  await db.start();
  await db.sequelize.query(`UPDATE webhook_endpoints SET url = 'http://user:${PASSWORD}@127.0.0.1:9/x'`);
  await db.stop();
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'x' })).status, 201);
  const failed = await waitFor('a failed attempt', async () => {
    const rows = (await (await fetch(`${server.baseUrl}/webhooks/deliveries`)).json()) as WebhookDelivery[];
    return rows.find((d) => d.lastError);
  });
  assert.ok(!failed.lastError!.includes(PASSWORD), failed.lastError!);
  const list = await webhooks(server, ['list']);
  const shown = `${list.stdout}${(await webhooks(server, ['deliveries'])).stdout}`;
  assert.match(list.stdout, /http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:9\/x/);
  assert.ok(!shown.includes(PASSWORD), shown);
  await waitFor('the attempt logged', () => logs.text().includes('webhook attempt failed'));
  assert.ok(!logs.text().includes(PASSWORD), 'never logged');
});

test('without WEBHOOK_ALLOW_PRIVATE, the server sends no webhook to this machine, even to an endpoint stored before: the attempt fails with the reason', async (t) => {
  let hits = 0;
  const receiver = http.createServer((_req, res) => {
    hits++;
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => receiver.close(resolve)));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const server = await startTestServer(t, { mqttPort: -1, webhooks: { ...settings, allowPrivate: false } });
  const refused = await webhooks(server, ['add', url]);
  assert.equal(refused.code, 2);
  assert.match(
    refused.stderr,
    /points to 127\.0\.0\.1: this machine, a link-local or the metadata address; set WEBHOOK_ALLOW_PRIVATE=true/,
  );
  assert.equal((await webhooks(server, ['list'])).stdout.trim(), 'no webhook endpoints', 'nothing stored');
  // Added while the setting said yes; the server, which says no, checks again before sending.
  assert.equal((await webhooks(server, ['add', url], { WEBHOOK_ALLOW_PRIVATE: 'true' })).code, 0);
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'x' })).status, 201);
  const failed = await waitFor('a refused attempt', async () => {
    const rows = (await (await fetch(`${server.baseUrl}/webhooks/deliveries`)).json()) as WebhookDelivery[];
    return rows.find((d) => d.lastError);
  });
  assert.match(failed.lastError!, /points to 127\.0\.0\.1/);
  assert.equal(hits, 0, 'nothing reached the receiver');
});

testEachDatabase(
  'finished deliveries lose their payload after WEBHOOK_PAYLOAD_DAYS; the row stays, waiting ones keep theirs',
  async (t, dialect) => {
    const db = await startTestDatabase(t, dialect);
    const store = db.createWebhookStore();
    const endpoint = await store.addEndpoint('https://example.com/hook', '*', 'sealed', new Date());
    const payload = JSON.stringify({ data: { content: 'a' + '\\u0001'.repeat(3999) } });
    const old = Date.now() - 4 * 86_400_000;
    await store.queue(
      endpoint.id,
      async () => ({
        deliveries: [1, 2, 3].map((id) => ({
          eventId: id,
          jobId: id,
          printerId: 'printer-1',
          type: 'job.created',
          payload,
        })),
        lastEventId: 3,
      }),
      new Date(old),
    );
    const [first, second] = await store.claim(endpoint.id, Date.now(), Date.now() + 60_000, 2);
    assert.equal(await store.delivered(first!, 204, Date.now()), true);
    assert.equal(await store.failed(second!, 500, 'the receiver answered 500'), true);
    const sizes = async () =>
      (
        await db.sequelize.query<{ status: string; size: number | string }>(
          'SELECT status, LENGTH(payload) AS size FROM webhook_deliveries ORDER BY id',
          { type: QueryTypes.SELECT },
        )
      ).map((r) => `${r.status} ${Number(r.size)}`);
    assert.equal(await store.dropPayloads(old - 1000), 0, 'younger than the cut-off: kept');
    assert.equal(await store.dropPayloads(Date.now() - 3 * 86_400_000), 2);
    assert.deepEqual(await sizes(), ['delivered 0', 'failed 0', `pending ${payload.length}`]);
    assert.equal((await store.deliveries({ limit: 10 })).length, 3, 'the rows stay listed');
    assert.equal(await store.dropPayloads(Date.now()), 0, 'once');
  },
);

test('the dispatcher drops the payloads of finished deliveries older than WEBHOOK_PAYLOAD_DAYS in its hourly round', async () => {
  const store = new MemoryWebhookStore();
  const endpoint = await store.addEndpoint('https://example.com/hook', '*', 'sealed', new Date());
  const old = new Date(Date.now() - 4 * 86_400_000);
  await store.queue(
    endpoint.id,
    async () => ({
      deliveries: [{ eventId: 1, jobId: 1, printerId: 'printer-1', type: 'job.created', payload: '{"x":1}' }],
      lastEventId: 1,
    }),
    old,
  );
  const [claim] = await store.claim(endpoint.id, Date.now(), Date.now() + 60_000, 1);
  await store.delivered(claim!, 204, Date.now());
  const events = {
    eventsAfter: async () => [],
    eventBounds: async () => ({ first: null, last: 1 }),
    onGrowth: () => () => undefined,
  };
  const dispatcher = new WebhookDispatcher(
    store,
    events,
    new SecretBox('a key of the server, long enough'),
    {
      timeoutMs: 1000,
      retry: { minMs: 10, maxMs: 10, windowMs: 1000 },
      concurrency: 1,
      pollMs: 10,
      keepMs: 90 * 86_400_000,
      payloadMs: 3 * 86_400_000,
    },
    testLogger(),
    async () => 204,
  );
  await dispatcher.start();
  try {
    await waitFor('the payload dropped', () => store.deliveryRows[0]!.payload === '');
    assert.equal(store.deliveryRows.length, 1, 'the row stays (JOB_RETENTION_DAYS)');
  } finally {
    await dispatcher.stop();
  }
});
