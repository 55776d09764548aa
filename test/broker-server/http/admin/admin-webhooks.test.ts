/**
 * Webhooks through the admin API (issue 23), as `npm run webhooks` does them: add (the secret answered once,
 * never listed nor logged), list, the delivery log with each attempt, "retry now", remove. A real server, a
 * receiver on loopback that answers 500 then 204, signatures checked with `standardwebhooks`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { captureLogger, defer, postJson, startTestServer, type TestServer, waitFor } from '../../../support/harness';
import { testWebhookConfig } from '../../../support/webhook-config';

const ADMIN = 'admin-password-for-webhooks';

interface Hit {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1 answering each request with the next status of `answers` (then 204). */
async function startReceiver(t: TestContext, answers: number[]): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      res.writeHead(answers.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(t, () => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits };
}

function adminApi(server: TestServer, password = ADMIN) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.baseUrl}/admin/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${password}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null, res };
  };
}

test('the admin API adds a webhook (secret once), shows each attempt of its deliveries, retries one now, and removes it', async (t) => {
  const logs = captureLogger('debug');
  const receiver = await startReceiver(t, [500]);
  const server = await startTestServer(
    t,
    {
      mqttPort: -1,
      adminPassword: ADMIN,
      // A minute before the automatic retry: only "retry now" brings it back within the test.
      webhooks: testWebhookConfig(),
    },
    { log: logs.log },
  );
  const call = adminApi(server);

  assert.equal((await adminApi(server, 'wrong password, long enough')('GET', '/webhooks')).status, 401);
  const bad = await call('POST', '/webhooks', { url: 'ftp://example.com/x' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json!.field, 'url');
  const badEvents = await call('POST', '/webhooks', { url: receiver.url, events: ['job.done'] });
  assert.equal(badEvents.status, 400);
  assert.equal(badEvents.json!.field, 'events');
  assert.deepEqual((await call('GET', '/webhooks')).json, [], 'nothing stored by a refusal');

  const added = await call('POST', '/webhooks', { url: receiver.url, events: ['job.created'] });
  assert.equal(added.status, 201);
  assert.equal(added.res.headers.get('cache-control'), 'no-store');
  const secret = String(added.json!.secret);
  assert.match(secret, /^whsec_/);
  assert.equal(added.json!.events, 'job.created');
  const listed = await call('GET', '/webhooks');
  assert.equal((listed.json as unknown as unknown[]).length, 1);
  assert.ok(!JSON.stringify(listed.json).includes(secret), 'never listed');

  const job = (await postJson(server.baseUrl, '/print', { content: 'Pour le webhook' })).json as { id: number };
  // Settled, not only claimed: the row says `delivering` from the claim until the 500 is written back.
  await waitFor('the first attempt settled', async () => {
    const [d] = (await call('GET', '/webhooks/deliveries')).json as unknown as Array<{
      attempts: number;
      status: string;
    }>;
    return d?.attempts === 1 && d.status !== 'delivering' && receiver.hits.length === 1;
  });
  const [delivery] = (await call('GET', '/webhooks/deliveries')).json as unknown as Array<Record<string, unknown>>;
  assert.equal(delivery!.jobId, job.id);
  assert.equal(delivery!.status, 'pending');
  await waitFor('the attempt in the log', async () => {
    const attempts = (await call('GET', `/webhooks/deliveries/${String(delivery!.id)}/attempts`))
      .json as unknown as unknown[];
    return attempts.length === 1;
  });
  const [first] = (await call('GET', `/webhooks/deliveries/${String(delivery!.id)}/attempts`)).json as unknown as Array<
    Record<string, unknown>
  >;
  assert.equal(first!.statusCode, 500);
  assert.equal(first!.outcome, 'retry');
  assert.equal(first!.nextAttemptAt, delivery!.nextAttemptAt);

  const retried = await call('POST', `/webhooks/deliveries/${String(delivery!.id)}/retry`);
  assert.equal(retried.status, 202);
  await waitFor('delivered after retry now', async () => {
    const [d] = (await call('GET', '/webhooks/deliveries')).json as unknown as Array<{ status: string }>;
    return d?.status === 'delivered';
  });
  const attempts = (await call('GET', `/webhooks/deliveries/${String(delivery!.id)}/attempts`))
    .json as unknown as Array<Record<string, unknown>>;
  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.outcome, a.statusCode]),
    [
      [2, 'delivered', 204],
      [1, 'retry', 500],
    ],
  );
  // Both requests are the same event, signed with the secret answered once.
  assert.equal(receiver.hits.length, 2);
  for (const hit of receiver.hits) {
    const verified = new Webhook(secret).verify(hit.body, {
      'webhook-id': String(hit.headers['webhook-id']),
      'webhook-timestamp': String(hit.headers['webhook-timestamp']),
      'webhook-signature': String(hit.headers['webhook-signature']),
    }) as { type: string; data: { id: number } };
    assert.equal(verified.type, 'job.created');
    assert.equal(verified.data.id, job.id);
  }
  assert.equal(receiver.hits[0]!.headers['webhook-id'], receiver.hits[1]!.headers['webhook-id']);

  assert.equal((await call('POST', `/webhooks/deliveries/${String(delivery!.id)}/retry`)).status, 409, 'delivered');
  assert.equal((await call('POST', '/webhooks/deliveries/99999/retry')).status, 404);
  assert.equal((await call('POST', '/webhooks/deliveries/abc/retry')).status, 400);
  const id = String(added.json!.id);
  assert.equal((await call('DELETE', `/webhooks/${id}`)).status, 204);
  assert.equal((await call('DELETE', `/webhooks/${id}`)).status, 404);
  const [removed] = (await call('GET', '/webhooks')).json as unknown as Array<{ removedAt: string | null }>;
  assert.ok(removed!.removedAt, 'listed as removed');
  assert.ok(!logs.text().includes(secret), 'the secret is never logged');
  assert.ok(!logs.text().includes(secret.slice(6, 30)), 'nor a part of it');
});
