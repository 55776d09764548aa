import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import { TokenBuckets } from '../../../broker-server/http/guards/rate-limit';
import { CONTENT_SECURITY_POLICY } from '../../../broker-server/http/guards/security-headers';
import { topics } from '../../../protocol/topics';
import { connectClient, getJson, postJson, startTestServer, waitFor } from '../../support/harness';
import { JOB_PROTOCOL } from '../../../protocol/messages';

const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>"'&`;

test('POST /print is rate limited per client: 429 with Retry-After and a clear error (JSON, htmx or page), nothing stored', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, printRate: { perMinute: 2, burst: 3 } });
  for (let i = 0; i < 3; i++)
    assert.equal((await postJson(server.baseUrl, '/print', { content: `n${i}` })).status, 201);

  const limited = await postJson(server.baseUrl, '/print', { content: 'one too many' });
  assert.equal(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 30, `Retry-After: ${retryAfter}`);
  assert.match((limited.json as { error: string }).error, /too many messages from your address; try again in \d+ s/);

  const htmx = await fetch(server.baseUrl + '/print', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'HX-Request': 'true' },
    body: 'content=encore',
  });
  assert.equal(htmx.status, 429);
  assert.ok(htmx.headers.get('retry-after'));
  assert.match(
    await htmx.text(),
    /<p class="error"[^>]*>Trop de messages envoyés depuis votre adresse : réessayez dans \d+ s\./,
  );
  const form = await fetch(server.baseUrl + '/print', {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'content=sans+js',
  });
  assert.equal(form.status, 429);
  const formPage = await form.text();
  assert.match(formPage, /^<!doctype html>[\s\S]*>sans js<\/textarea>/, 'the page keeps the text typed');
  assert.match(formPage, /<p class="error"[^>]*>Trop de messages envoyés/);

  const first = (await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json.at(-1)!;
  await server.jobs.transition(first.id, 'printed');
  assert.equal(
    (await postJson(server.baseUrl, `/jobs/${first.id}/reprint`, {})).status,
    429,
    'a reprint creates a job too',
  );
  assert.equal((await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json.length, 3);
  assert.equal((await getJson(server.baseUrl, '/jobs')).status, 200, 'reading is not limited');
});

test('the token bucket refills at the configured rate, per client, and forgets the least recently seen clients first', () => {
  let now = 0;
  const buckets = new TokenBuckets({ perMinute: 6, burst: 2, maxClients: 3 }, () => now);
  assert.deepEqual([buckets.take('a'), buckets.take('a')], [{ ok: true }, { ok: true }]);
  assert.deepEqual(buckets.take('a'), { ok: false, retryAfterSeconds: 10 });
  assert.deepEqual(buckets.take('b'), { ok: true }, 'another client has its own bucket');
  now = 4_000;
  assert.deepEqual(buckets.take('a'), { ok: false, retryAfterSeconds: 6 });
  now = 10_000;
  assert.deepEqual(buckets.take('a'), { ok: true });
  assert.equal(buckets.take('a').ok, false);
  now = 1_000_000;
  assert.deepEqual(
    [buckets.take('a'), buckets.take('a'), buckets.take('a').ok],
    [{ ok: true }, { ok: true }, false],
    'never more than the burst',
  );
  buckets.take('c');
  buckets.take('d');
  assert.equal(buckets.size, 3);
  assert.deepEqual(new TokenBuckets({ perMinute: 0, burst: 1 }).take('x'), { ok: true }, '0 per minute: no limit');
});

test('every answer carries a CSP of default-src self and the usual security headers', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  assert.match(CONTENT_SECURITY_POLICY, /^default-src 'self';/);
  for (const [method, route] of [
    ['GET', '/'],
    ['GET', '/jobs'],
    ['GET', '/static/app.js'],
    ['GET', '/vendor/htmx.min.js'],
    ['GET', '/nowhere'],
    ['POST', '/print'],
  ] as const) {
    const res = await fetch(server.baseUrl + route, {
      method,
      headers: { 'content-type': 'application/json' },
      body: method === 'POST' ? '{' : undefined,
    });
    assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, route);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', route);
    assert.equal(res.headers.get('x-frame-options'), 'DENY', route);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', route);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', route);
    assert.equal(res.headers.get('x-powered-by'), null, route);
  }
  const page = await (await fetch(server.baseUrl + '/')).text();
  assert.doesNotMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(page, /<style|\sstyle=|\son[a-z]+=|hx-on|javascript:/i, 'no inline style or handler');
});

test('every other kind of bad body gets a clear 4xx error and stores nothing', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, bodyLimitBytes: 2048 });
  const post = (body: string, headers: Record<string, string>) =>
    fetch(server.baseUrl + '/print', { method: 'POST', headers, body });
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const cases: Array<{ name: string; body: string; headers: Record<string, string>; status: number; error: RegExp }> = [
    {
      name: 'form over the size limit',
      body: 'content=' + 'x'.repeat(3000),
      headers: form,
      status: 413,
      error: /larger than the 2048 bytes/,
    },
    {
      name: 'form with too many fields',
      body: Array.from({ length: 30 }, (_, i) => `f${i}=1`).join('&'),
      headers: form,
      status: 400,
      error: /too many fields/,
    },
    {
      name: 'form with content twice',
      body: 'content=a&content=b',
      headers: form,
      status: 400,
      error: /"content" must be a string, not an array/,
    },
    {
      name: 'JSON in Latin-1',
      body: '{"content":"a"}',
      headers: { 'content-type': 'application/json; charset=latin1' },
      status: 415,
      error: /UTF-8/,
    },
    { name: 'no content type', body: 'content=a', headers: {}, status: 415, error: /application\/json/ },
    {
      name: 'XML',
      body: '<content>a</content>',
      headers: { 'content-type': 'application/xml' },
      status: 415,
      error: /application\/json/,
    },
    {
      name: 'empty JSON body',
      body: '',
      headers: { 'content-type': 'application/json' },
      status: 400,
      error: /"content" is required/,
    },
    {
      name: 'deeply nested JSON',
      body: '{"content":' + '['.repeat(900) + ']'.repeat(900) + '}',
      headers: { 'content-type': 'application/json' },
      status: 400,
      error: /must be a string, not an array/,
    },
    {
      name: '__proto__ smuggling',
      body: '{"__proto__":{"content":"x"}}',
      headers: { 'content-type': 'application/json' },
      status: 400,
      error: /"content" is required/,
    },
    // Blank once cleaned (issue 17): it would print an empty receipt.
    {
      name: 'NUL-only content',
      body: '{"content":"\\u0000\\u001b"}',
      headers: { 'content-type': 'application/json' },
      status: 400,
      error: /the message is empty/,
    },
  ];
  for (const c of cases) {
    const res = await post(c.body, c.headers);
    const text = await res.text();
    assert.equal(res.status, c.status, `${c.name}: ${text}`);
    if (c.status >= 400) {
      if (c.headers === form) {
        // A plain form post gets the page back, with the error in it.
        assert.match(text, /^<!doctype html>[\s\S]*<p class="error"[^>]*>[^<]+<\/p>/, c.name);
      } else {
        assert.match(res.headers.get('content-type') ?? '', /application\/json/, c.name);
        assert.match((JSON.parse(text) as { error: string }).error, c.error, c.name);
      }
      const htmx = await post(c.body, { ...c.headers, 'HX-Request': 'true' });
      assert.equal(htmx.status, c.status, c.name);
      assert.match(
        await htmx.text(),
        /^<p class="error"[^>]*>[^<]*<\/p>$/,
        `${c.name}: the htmx answer is one escaped message`,
      );
    }
  }
  assert.equal((await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json.length, 0);
});

test('every user value is escaped in the page and its fragments: content, printer detail, job error', async (t) => {
  const server = await startTestServer(t);
  const job = (await postJson(server.baseUrl, '/print', { content: HOSTILE })).json as PrintJob;
  const agent = await connectClient(t, server, { printerId: 'printer-1' }, { clientId: 'hostile-agent' });
  await agent.publishAsync(
    topics.status('printer-1'),
    JSON.stringify({ state: 'online', detail: HOSTILE.slice(0, 200), protocol: JOB_PROTOCOL }),
    { qos: 1 },
  );
  await agent.publishAsync(
    topics.acks('printer-1'),
    JSON.stringify({ id: job.id, uid: job.uid, status: 'failed', at: new Date().toISOString(), error: HOSTILE }),
    { qos: 1 },
  );
  await waitFor(
    'failed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'failed',
  );
  const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;';
  // The page, and the snapshot the live stream sends first.
  const controller = new AbortController();
  const stream = await fetch(server.baseUrl + '/events', { signal: controller.signal });
  const reader = stream.body!.getReader();
  let live = '';
  while (live.split(escaped).length - 1 < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    live += new TextDecoder().decode(value);
  }
  controller.abort();
  for (const [route, html] of [
    ['/', await (await fetch(server.baseUrl + '/')).text()],
    ['/events', live],
  ] as const) {
    assert.ok(!html.includes('<img src=x') && !html.includes('<script>alert'), route);
    assert.ok(html.includes(escaped), `${route} shows the text, escaped`);
  }
  const page = await (await fetch(server.baseUrl + '/')).text();
  assert.equal(page.split(escaped).length - 1, 3, 'content, error and printer detail');
});
