/**
 * `npm run webhooks` (broker-server/webhooks-command.ts) in process, on the in-memory webhook store: what it
 * refuses, with which exit code, and that it stores nothing then. Not a unit test: the command module loads
 * the database driver for its entry point. The built command against a real server: webhooks.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkWebhookUrl, webhooksCommand } from '../../../broker-server/webhooks-command';
import { SecretBox } from '../../../broker-server/webhooks/webhook-secrets';
import type { Lookup } from '../../../broker-server/webhooks/webhook-targets';
import { MemoryWebhookStore } from '../../support/memory-webhook-store';

/** Runs the command in process: its exit code and what it wrote to stdout and stderr. */
const runner =
  (store: MemoryWebhookStore, box: SecretBox, lookup?: Lookup) =>
  async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await webhooksCommand(
      args,
      store,
      box,
      (l) => out.push(l),
      (l) => err.push(l),
      {
        allowPrivate: false,
        lookup,
      },
    );
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

test('the command refuses bad input with exit code 2 (usage) or 1 (not found), and stores nothing', async () => {
  const store = new MemoryWebhookStore();
  const box = new SecretBox('a key of the server, long enough');
  // No DNS in a unit test: this name resolves to this machine, any other to a public address.
  const run = runner(store, box, async (host) => (host === 'printhop.local' ? ['127.0.1.1'] : ['93.184.215.14']));
  const cases: Array<[string[], number, RegExp]> = [
    [[], 2, /^usage: npm run webhooks/],
    [['add'], 2, /add takes one URL/],
    [['add', 'ftp://example.com/x'], 2, /must be http:\/\/ or https:\/\/, not ftp:/],
    [['add', 'example.com/hook'], 2, /is not a URL/],
    [['add', 'javascript:alert(1)'], 2, /must be http:\/\/ or https:\/\//],
    [
      ['add', 'https://example.com/x', '--events', 'job.done'],
      2,
      /unknown event type job\.done; valid event types: job\.created, job\.sent, job\.received, job\.printed, job\.failed, job\.interrupted/,
    ],
    [['add', 'https://example.com/x', '--events'], 2, /--events needs a value/],
    [['add', 'https://example.com/x', '--secret', 'x'], 2, /unknown option --secret/],
    [['remove', 'abc'], 2, /an endpoint id is a whole number/],
    [['remove', '7'], 1, /no active webhook endpoint 7/],
    [['deliveries', '--status', 'lost'], 2, /--status must be one of pending, delivering, delivered, failed/],
    [['deliveries', '--limit', '0'], 2, /--limit must be a whole number from 1 to 500/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [['add', 'https://user:pw@example.com/hook'], 2, /must not carry a user name or password/],
    [['add', 'http://127.0.0.1:3000/admin/api/printers'], 2, /points to 127\.0\.0\.1: this machine/],
    [['add', 'http://169.254.169.254/latest/meta-data/'], 2, /points to 169\.254\.169\.254/],
    [['add', 'http://[::1]:22/'], 2, /points to ::1/],
    [['add', 'http://[::ffff:127.0.0.1]/'], 2, /points to ::ffff:7f00:1/],
    [['add', 'http://0.0.0.0:3000/'], 2, /points to 0\.0\.0\.0/],
    [['add', 'http://localhost:3000/'], 2, /points to localhost/],
    [['add', 'http://2130706433/'], 2, /points to 127\.0\.0\.1/],
    [['add', 'http://printhop.local/x'], 2, /points to printhop\.local, which is 127\.0\.1\.1/],
    [['add', 'http://[fe80::1]/'], 2, /points to fe80::1/],
  ];
  for (const [args, code, message] of cases) {
    const result = await run(...args);
    assert.equal(result.code, code, args.join(' '));
    assert.match(result.err, message, args.join(' '));
  }
  assert.equal(store.endpointRows.length, 0, 'nothing stored');
  const added = await run('add', 'https://example.com/hook', '--events', 'job.failed,job.printed');
  assert.equal(added.code, 0);
  const secret = added.out.split('\n').at(-1)!;
  assert.match(secret, /^whsec_/);
  assert.equal(store.endpointRows[0]!.events, 'job.printed,job.failed');
  assert.equal(box.open(store.endpointRows[0]!.secretSealed), secret);
  const list = await run('list');
  assert.ok(!list.out.includes(secret) && !list.out.includes(store.endpointRows[0]!.secretSealed));
  assert.equal((await run('remove', '1')).code, 0);
  assert.equal((await run('remove', '1')).code, 1);
  // A shop's own systems live in private ranges: allowed.
  for (const url of ['http://192.168.1.20/hook', 'http://10.0.0.5:8080/x', 'http://[fd12::5]/x', 'http://172.16.0.9/'])
    assert.equal((await run('add', url)).code, 0, url);
  assert.deepEqual(checkWebhookUrl('HTTPS://Example.com:8443/a?b=c'), {
    ok: true,
    url: 'https://example.com:8443/a?b=c',
  });
});

test('attempts and retry: a failed delivery’s log, then due again at once; refusals say why, with exit 1 or 2', async () => {
  const store = new MemoryWebhookStore();
  const box = new SecretBox('a key of the server, long enough');
  const run = runner(store, box);
  const endpoint = await store.addEndpoint('https://example.com/hook', '*', box.seal('whsec_x'), new Date(0));
  const plan = async () => ({
    deliveries: [
      { eventId: 1, jobId: 7, printerId: 'bar', type: 'job.printed', payload: '{}' },
      { eventId: 2, jobId: 8, printerId: 'bar', type: 'job.printed', payload: '{}' },
    ],
    lastEventId: 2,
  });
  await store.queue(endpoint.id, plan, new Date(1_000));
  const [first, second] = await store.claim(endpoint.id, 2_000, 60_000, 2);
  await store.failed(first!, 500, 'HTTP 500');
  await store.recordAttempt({
    deliveryId: first!.id,
    endpointId: endpoint.id,
    attempt: 1,
    startedAt: 2_000,
    durationMs: 12,
    statusCode: 500,
    error: 'HTTP 500',
    outcome: 'failed',
    nextAttemptAt: null,
  });
  await store.delivered(second!, 204, 2_500);

  const log = await run('attempts', String(first!.id));
  assert.equal(log.code, 0);
  assert.match(log.out, /^attempt 1\t1970-01-01T00:00:02\.000Z\tstatus 500\t12 ms\tfailed$/);
  assert.match((await run('attempts', String(second!.id))).out, /^no attempts of delivery 2$/);

  const retried = await run('retry', String(first!.id));
  assert.equal(retried.code, 0, retried.err);
  assert.match(retried.out, /^delivery 1 is due now/);
  const row = (await store.deliveries({ limit: 10 })).find((d) => d.id === first!.id)!;
  assert.equal(row.status, 'pending');
  assert.deepEqual(await store.dueEndpoints(Date.now()), [endpoint.id], 'due now for a running server');

  const refusals: Array<[string[], number, RegExp]> = [
    [['retry', String(second!.id)], 1, /the delivery was delivered already \(2\)/],
    [['retry', '99'], 1, /no such delivery \(99\)/],
    [['retry', 'x'], 2, /a delivery id is a whole number/],
    [['retry'], 2, /retry takes one delivery id/],
    [['attempts'], 2, /attempts takes one delivery id/],
    [['attempts', '0'], 2, /a delivery id is a whole number/],
    [['attempts', '1', '--limit', '501'], 2, /--limit must be a whole number from 1 to 500/],
    [['attempts', '1', '--status', 'failed'], 2, /unknown option --status/],
  ];
  for (const [args, code, message] of refusals) {
    const result = await run(...args);
    assert.equal(result.code, code, args.join(' '));
    assert.match(result.err, message, args.join(' '));
  }
});
