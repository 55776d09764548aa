/** Idempotency-Key over HTTP on a real server, on SQLite and on PostgreSQL (where two instances share the keys). */
import assert from 'node:assert/strict';
import type { PrintJob } from '../../../../broker-server/jobs/job-service';
import { getJson, postJson, startTestServer, testEachMode } from '../../../support/harness';

const key = () => `k-${crypto.randomUUID()}`;
const jobsOf = async (baseUrl: string) => (await getJson<PrintJob[]>(baseUrl, '/jobs?limit=500')).json;

testEachMode(
  'the same Idempotency-Key with the same request returns the same job with the original status; a different request is a 422',
  async (t, mode) => {
    const server = await startTestServer(t, { mqttPort: -1 }, { mode });
    const k = key();
    const first = await postJson(server.baseUrl, '/print', { content: 'Ticket 42' }, { 'Idempotency-Key': k });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('idempotency-replayed'), null);
    const again = await postJson(
      server.baseUrl,
      '/print',
      { content: 'Ticket 42', printerId: 'printer-1' },
      { 'Idempotency-Key': k },
    );
    assert.equal(again.status, 201, 'the original status code');
    assert.equal(again.headers.get('idempotency-replayed'), 'true');
    assert.equal((again.json as PrintJob).id, (first.json as PrintJob).id);
    assert.equal(again.headers.get('location'), `/jobs/${(first.json as PrintJob).id}`);

    const other = await postJson(server.baseUrl, '/print', { content: 'Ticket 43' }, { 'Idempotency-Key': k });
    assert.equal(other.status, 422);
    assert.match((other.json as { error: string }).error, /already used for a different request/);
    const elsewhere = await fetch(`${server.baseUrl}/printers/printer-1/test`, {
      method: 'POST',
      headers: { 'Idempotency-Key': k },
    });
    assert.equal(elsewhere.status, 422, 'another route with the same key is another request');

    const noKey = await postJson(server.baseUrl, '/print', { content: 'Ticket 42' });
    assert.equal(noKey.status, 201, 'without a key, each request is a job');
    assert.equal((await jobsOf(server.baseUrl)).length, 2);
  },
);

testEachMode('malformed keys are a 400 that says what is wrong, and store nothing', async (t, mode) => {
  const server = await startTestServer(t, { mqttPort: -1 }, { mode });
  const cases: Array<[string, RegExp]> = [
    ['x'.repeat(256), /256 characters long; the limit is 255/],
    ['with space', /printable ASCII without spaces/],
    ['clé', /printable ASCII/],
    ['""', /empty/],
  ];
  for (const [bad, error] of cases) {
    const res = await postJson(server.baseUrl, '/print', { content: 'a' }, { 'Idempotency-Key': bad });
    assert.equal(res.status, 400, bad);
    assert.match((res.json as { error: string }).error, error);
  }
  assert.equal(
    (await postJson(server.baseUrl, '/print', { content: 'a' }, { 'Idempotency-Key': '"quoted-ok"' })).status,
    201,
    'the structured-field form',
  );
  assert.equal((await jobsOf(server.baseUrl)).length, 1);
});

testEachMode('a refused request does not use up its key: corrected, it creates the job', async (t, mode) => {
  const server = await startTestServer(t, { mqttPort: -1 }, { mode });
  const k = key();
  assert.equal(
    (await postJson(server.baseUrl, '/print', { content: 'a', printerId: 'nowhere' }, { 'Idempotency-Key': k })).status,
    422,
  );
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'a' }, { 'Idempotency-Key': k })).status, 201);
});

testEachMode(
  'requests with the same key at the same moment make one job, also across two instances on PostgreSQL',
  async (t, mode) => {
    const a = await startTestServer(t, { mqttPort: -1 }, { mode });
    const b = mode === 'external' ? await startTestServer(t, { mqttPort: -1 }, { join: a }) : a;
    const k = key();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        postJson((i % 2 ? b : a).baseUrl, '/print', { content: 'together' }, { 'Idempotency-Key': k }),
      ),
    );
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([201]));
    const ids = new Set(answers.map((r) => (r.json as PrintJob).id));
    assert.equal(ids.size, 1, `one job: ${[...ids].join(', ')}`);
    assert.equal(answers.filter((r) => r.headers.get('idempotency-replayed') === 'true').length, 29);
    assert.equal((await jobsOf(a.baseUrl)).length, 1);
  },
);

testEachMode('reprint and test print are idempotent too; keys are scoped to the caller', async (t, mode) => {
  const server = await startTestServer(t, { mqttPort: -1 }, { mode });
  const original = (await postJson(server.baseUrl, '/print', { content: 'à réimprimer' })).json as PrintJob;
  await server.jobs.transition(original.id, 'printed');
  const k = key();
  const reprints = await Promise.all(
    [1, 2, 3].map(() =>
      fetch(`${server.baseUrl}/jobs/${original.id}/reprint`, { method: 'POST', headers: { 'Idempotency-Key': k } }),
    ),
  );
  const reprintIds = new Set(await Promise.all(reprints.map(async (r) => ((await r.json()) as PrintJob).id)));
  assert.equal(reprintIds.size, 1);
  const t1 = key();
  const tests = [];
  for (let i = 0; i < 2; i++)
    tests.push(
      await fetch(`${server.baseUrl}/printers/printer-1/test`, { method: 'POST', headers: { 'Idempotency-Key': t1 } }),
    );
  assert.deepEqual(
    tests.map((r) => r.status),
    [201, 201],
  );
  assert.equal(tests[1]!.headers.get('idempotency-replayed'), 'true');
  // The page's form and an API caller each have their own keys: the same text is two jobs.
  const shared = key();
  const api = await postJson(server.baseUrl, '/print', { content: 'même clé' }, { 'Idempotency-Key': shared });
  const form = await fetch(`${server.baseUrl}/print`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ content: 'même clé', idempotencyKey: shared }),
  });
  assert.equal(form.status, 303);
  assert.notEqual(form.headers.get('location'), `/?sent=${(api.json as PrintJob).id}`);
  const all = await jobsOf(server.baseUrl);
  assert.equal(all.length, 1 + 1 + 1 + 2);
  assert.deepEqual(new Set(all.map((j) => j.createdBy)), new Set(['anonymous', 'page']));
});

testEachMode(
  "the page's form carries a fresh key each time it is shown; the same form sent twice prints once",
  async (t, mode) => {
    const server = await startTestServer(t, { mqttPort: -1 }, { mode });
    const formKey = async () => {
      const page = await (await fetch(server.baseUrl + '/')).text();
      const m = /<input type="hidden" id="print-key" name="idempotencyKey" value="([^"]+)">/.exec(page);
      assert.ok(m, 'the print form has its key field');
      return m[1]!;
    };
    const k1 = await formKey();
    const k2 = await formKey();
    assert.notEqual(k1, k2, 'a new key each time the page is shown');
    const send = (k: string, headers: Record<string, string> = {}) =>
      fetch(server.baseUrl + '/print', {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: `content=Deux+fois&printerId=printer-1&idempotencyKey=${k}`,
      });
    const plain = [await send(k1), await send(k1)];
    assert.deepEqual(
      plain.map((r) => r.status),
      [303, 303],
    );
    assert.equal(
      plain[0]!.headers.get('location'),
      plain[1]!.headers.get('location'),
      'the back button and a re-post land on the same job',
    );
    const htmx = [await send(k2, { 'HX-Request': 'true' }), await send(k2, { 'HX-Request': 'true' })];
    const bodies = await Promise.all(htmx.map((r) => r.text()));
    const ids = bodies.map((b) => /tâche n°(\d+)/.exec(b)?.[1]);
    assert.equal(ids[0], ids[1]);
    const fresh = bodies.map(
      (b) =>
        /<hx-partial hx-target="#print-key" hx-swap="outerHTML"><input type="hidden" id="print-key" name="idempotencyKey" value="([^"]+)">/.exec(
          b,
        )?.[1],
    );
    assert.ok(fresh[0] && fresh[0] !== k2, "htmx's answer renews the form's key for its next send");
    assert.equal((await jobsOf(server.baseUrl)).length, 2);
  },
);

testEachMode('keys older than IDEMPOTENCY_KEY_HOURS are forgotten', async (t, mode) => {
  const server = await startTestServer(t, { mqttPort: -1, idempotencyKeyMs: 360 }, { mode }); // 0.36 s
  const k = key();
  const first = (await postJson(server.baseUrl, '/print', { content: 'x' }, { 'Idempotency-Key': k })).json as PrintJob;
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok((await server.idempotency.pruneNow()) >= 1);
  const later = await postJson(server.baseUrl, '/print', { content: 'x' }, { 'Idempotency-Key': k });
  assert.equal(later.status, 201);
  assert.notEqual((later.json as PrintJob).id, first.id, 'a forgotten key is a new job');
});
