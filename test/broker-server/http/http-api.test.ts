import assert from 'node:assert/strict';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import { getJson, postJson, startTestServer, testEachMode } from '../../support/harness';

testEachMode('bad input gets a clear 4xx JSON error and stores nothing', async (t, mode) => {
  const server = await startTestServer(t, { bodyLimitBytes: 16 * 1024 }, { mode });
  const cases: Array<{ name: string; body: string; type?: string; status: number; error: RegExp }> = [
    { name: 'malformed JSON', body: '{"content": "oops"', status: 400, error: /not valid JSON/ },
    { name: 'not an object', body: '"hello"', status: 400, error: /JSON object/ },
    { name: 'an array', body: '[1,2]', status: 400, error: /JSON object/ },
    { name: 'missing content', body: '{}', status: 400, error: /"content" is required/ },
    {
      name: 'content of the wrong type',
      body: '{"content": 42}',
      status: 400,
      error: /must be a string, not a number/,
    },
    { name: 'null content', body: '{"content": null}', status: 400, error: /must be a string, not null/ },
    { name: 'blank content', body: '{"content": "  \\n\\t "}', status: 400, error: /empty/ },
    {
      name: 'too long content',
      body: JSON.stringify({ content: 'x'.repeat(4001) }),
      status: 400,
      error: /4001 characters long; the limit is 4000/,
    },
    {
      name: 'body over the size limit',
      body: JSON.stringify({ content: 'x'.repeat(20_000) }),
      status: 413,
      error: /larger than the 16384 bytes/,
    },
    {
      name: 'printerId of the wrong type',
      body: '{"content": "a", "printerId": 3}',
      status: 400,
      error: /"printerId" must be a string/,
    },
    {
      name: 'printerId with a wildcard',
      body: '{"content": "a", "printerId": "p/#"}',
      status: 400,
      error: /"printerId" must be 1-64/,
    },
    {
      name: 'unknown printer',
      body: '{"content": "a", "printerId": "nowhere"}',
      status: 422,
      error: /unknown printer "nowhere"; known printers: printer-1/,
    },
    { name: 'wrong content type', body: 'content=a', type: 'text/plain', status: 415, error: /application\/json/ },
  ];
  for (const c of cases) {
    const res = await postJson(server.baseUrl, '/print', c.body, c.type ? { 'content-type': c.type } : {});
    assert.equal(res.status, c.status, c.name);
    const error = (res.json as { error?: string }).error;
    assert.match(error ?? '', c.error, `${c.name}: ${JSON.stringify(res.json)}`);
  }
  const unknownPrinter = await postJson(server.baseUrl, '/print', { content: 'a', printerId: 'nowhere' });
  assert.deepEqual((unknownPrinter.json as { knownPrinters: string[] }).knownPrinters, ['printer-1']);
  assert.deepEqual((await getJson(server.baseUrl, '/jobs')).json, []);
});

testEachMode(
  'exactly 4,000 characters (counted as characters, not bytes) is accepted, unknown fields are ignored',
  async (t, mode) => {
    const server = await startTestServer(t, {}, { mode });
    const content = 'é'.repeat(3999) + '€';
    const res = await postJson(server.baseUrl, '/print', { content, color: 'red', id: 999 });
    assert.equal(res.status, 201);
    const job = res.json as PrintJob;
    assert.notEqual(job.id, 999);
    assert.equal(job.content, content);
  },
);

testEachMode(
  'GET /jobs lists newest first with status and limit filters; GET /jobs/:id answers 404 for an unknown id',
  async (t, mode) => {
    const server = await startTestServer(t, { mqttPort: -1 }, { mode });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(((await postJson(server.baseUrl, '/print', { content: `n${i}` })).json as PrintJob).id);
    await server.jobs.transition(ids[1]!, 'printed');
    const all = (await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json;
    assert.deepEqual(
      all.map((j) => j.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      (await getJson<PrintJob[]>(server.baseUrl, '/jobs?limit=2')).json.map((j) => j.id),
      [ids[4], ids[3]],
    );
    assert.deepEqual(
      (await getJson<PrintJob[]>(server.baseUrl, '/jobs?status=printed')).json.map((j) => j.id),
      [ids[1]],
    );
    const badStatus = await getJson<{ error: string }>(server.baseUrl, '/jobs?status=done');
    assert.equal(badStatus.status, 400);
    assert.match(badStatus.json.error, /"status" must be one of pending, sent/);
    assert.equal((await getJson(server.baseUrl, '/jobs?limit=0')).status, 400);
    assert.equal((await getJson(server.baseUrl, '/jobs?limit=abc')).status, 400);
    const missing = await getJson<{ error: string }>(server.baseUrl, '/jobs/424242');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error, /no job with id "424242"/);
    assert.equal((await getJson(server.baseUrl, '/jobs/abc')).status, 404);
    assert.equal((await getJson<PrintJob>(server.baseUrl, `/jobs/${ids[0]}`)).json.content, 'n0');
  },
);

testEachMode(
  'the htmx form gets an HTML confirmation; a plain form post is redirected back; a blank form shows the error',
  async (t, mode) => {
    const server = await startTestServer(t, { mqttPort: -1 }, { mode });
    const form = (body: string, headers: Record<string, string> = {}) =>
      fetch(server.baseUrl + '/print', {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });

    const htmx = await form('content=Bonjour+%C3%A0+tous&printerId=printer-1', { 'HX-Request': 'true' });
    assert.equal(htmx.status, 201);
    assert.match(htmx.headers.get('content-type') ?? '', /text\/html/);
    const fragment = await htmx.text();
    const id = Number(/tâche n°(\d+)/.exec(fragment)?.[1]);
    assert.ok(id > 0, fragment);
    assert.equal((await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json.content, 'Bonjour à tous');

    const plain = await form('content=Sans+JavaScript');
    assert.equal(plain.status, 303);
    assert.match(plain.headers.get('location') ?? '', /^\/\?sent=\d+$/);
    const pageAfter = await (await fetch(server.baseUrl + plain.headers.get('location'))).text();
    assert.match(pageAfter, /Message envoyé — tâche n°\d+/);

    const blankHtmx = await form('content=+++', { 'HX-Request': 'true' });
    assert.equal(blankHtmx.status, 400);
    assert.match(await blankHtmx.text(), /class="error"[^>]*>Le message est vide/);
    const blankPlain = await form('content=%20%20');
    assert.equal(blankPlain.status, 400);
    const page = await blankPlain.text();
    assert.match(page, /Le message est vide/);
    assert.match(page, /<textarea[^>]*> {2}<\/textarea>/);
    assert.equal((await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json.length, 2);
  },
);

testEachMode('the page is served with htmx from the server itself and escapes user content', async (t, mode) => {
  const server = await startTestServer(t, { mqttPort: -1 }, { mode });
  await postJson(server.baseUrl, '/print', { content: '<img src=x onerror=alert(1)>' });
  const page = await (await fetch(server.baseUrl + '/')).text();
  assert.match(page, /<textarea[^>]*id="content"/);
  assert.match(page, /<label for="content">Texte à imprimer<\/label>/);
  assert.match(page, />Envoyer<\/button>/);
  assert.doesNotMatch(page, /https?:\/\/(?!www\.w3\.org)/, 'no CDN or other outside address');
  assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(!page.includes('<img src=x'));
  const htmx = await fetch(server.baseUrl + '/vendor/htmx.min.js');
  assert.equal(htmx.status, 200);
  assert.match(await htmx.text(), /htmx/);
  assert.equal((await fetch(server.baseUrl + '/static/style.css')).status, 200);
  assert.equal((await fetch(server.baseUrl + '/static/app.js')).status, 200);
});
