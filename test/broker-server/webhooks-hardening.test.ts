/**
 * Webhook endpoints, hardened (issue 20): a URL's credentials are refused at `add` and never shown in an
 * answer or a log line. The real `npm run webhooks` command as a child process, the server over loopback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Database } from '../../broker-server/db/database';
import type { WebhookDelivery } from '../../broker-server/webhooks/webhook-store';
import { runServerCommand } from '../support/child-programs';
import { captureLogger, postJson, startTestServer, testLogger, type TestServer, waitFor } from '../support/harness';

const webhooks = (server: TestServer, args: string[], env: Record<string, string> = {}) =>
  runServerCommand(server, 'broker-server/webhooks-command.ts', args, { env });

const settings = {
  secretKey: null,
  timeoutMs: 1_000,
  retryHours: 1,
  retryMinMs: 60_000,
  retryMaxMs: 60_000,
  concurrency: 1,
  pollMs: 100,
};

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
