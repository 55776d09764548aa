/**
 * Issue 17, HTTP side: each test replays one attack of the red-team pass against a real server on
 * loopback and checks it is refused now (cross-site posts, DNS rebinding, paper and CPU amplification,
 * live-stream floods, huge bodies, lookup tables).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import { SharedSnapshot } from '../../../broker-server/http/page/snapshot-batch';
import { getJson, postJson, startTestServer, type TestServer, waitFor } from '../../support/harness';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** node:http, so that Host, Origin and Sec-Fetch-* are exactly what the test says (fetch sets some itself). */
function raw(
  server: TestServer,
  method: string,
  route: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.httpPort,
        method,
        path: route,
        headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const CROSS_SITE = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };

async function jobCount(server: TestServer): Promise<number> {
  return (await getJson<PrintJob[]>(server.baseUrl, '/jobs?limit=500')).json.length;
}

/** The form token of one page view, as the page renders it. */
async function pageToken(server: TestServer): Promise<string> {
  const page = await (await fetch(server.baseUrl + '/')).text();
  const token = /<input type="hidden" name="formToken" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(token, 'the page has a form token');
  return token;
}

test('cross-site posts are refused (403, nothing printed); the page itself and API clients still post', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const job = (await postJson(server.baseUrl, '/print', { content: 'à réimprimer' })).json as PrintJob;
  await server.jobs.transition(job.id, 'printed');
  const before = await jobCount(server);

  const csrf = await raw(server, 'POST', '/print', { ...FORM, ...CROSS_SITE }, 'content=CSRF');
  assert.equal(csrf.status, 403, csrf.body);
  assert.match(csrf.body, /autre site|another site/);
  assert.equal((await raw(server, 'POST', '/printers/printer-1/test', CROSS_SITE)).status, 403);
  assert.equal(
    (await raw(server, 'POST', `/jobs/${job.id}/reprint`, { ...CROSS_SITE, 'content-type': 'text/plain' }, 'x')).status,
    403,
  );
  // Origin alone (an older browser), a sibling site, and the opaque origin of a sandboxed frame (no token).
  assert.equal(
    (await raw(server, 'POST', '/print', { ...FORM, origin: 'http://attacker.example:3000' }, 'content=CSRF')).status,
    403,
  );
  assert.equal(
    (await raw(server, 'POST', '/print', { ...FORM, 'sec-fetch-site': 'same-site' }, 'content=CSRF')).status,
    403,
  );
  assert.equal((await raw(server, 'POST', '/print', { ...FORM, origin: 'null' }, 'content=CSRF')).status, 403);
  assert.equal(await jobCount(server), before, 'nothing stored');

  // A browser on the page's own origin needs the page's form token too.
  const sameOrigin = { ...FORM, origin: server.baseUrl, 'sec-fetch-site': 'same-origin' };
  const noToken = await raw(server, 'POST', '/print', sameOrigin, 'content=sans+jeton');
  assert.equal(noToken.status, 403);
  assert.match(noToken.body, /Actualisez la page/);
  assert.equal((await raw(server, 'POST', '/print', sameOrigin, 'content=faux&formToken=abc.def.ghi')).status, 403);
  const token = await pageToken(server);
  const posted = await raw(
    server,
    'POST',
    '/print',
    sameOrigin,
    `content=bonjour&formToken=${encodeURIComponent(token)}`,
  );
  assert.equal(posted.status, 303, posted.body);
  // htmx sends it as a header (the page's hx-headers), for the forms that live updates render.
  const viaHeader = await raw(server, 'POST', '/printers/printer-1/test', {
    origin: server.baseUrl,
    'sec-fetch-site': 'same-origin',
    'hx-request': 'true',
    'x-form-token': token,
  });
  assert.equal(viaHeader.status, 201, viaHeader.body);

  // Software without browser headers (curl, scripts) is not a browser: it keeps working.
  assert.equal(
    (await raw(server, 'POST', '/print', { 'content-type': 'application/json' }, JSON.stringify({ content: 'api' })))
      .status,
    201,
  );
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'fetch de Node' })).status, 201);
  assert.equal(await jobCount(server), before + 4);
});

test('a form token verifies across a restart on the same DATA_DIR (its key is kept there, mode 0600)', async (t) => {
  const first = await startTestServer(t, { mqttPort: -1 });
  const token = await pageToken(first);
  await first.stop();
  const second = await startTestServer(t, { mqttPort: -1, dataDir: first.dataDir });
  const res = await raw(
    second,
    'POST',
    '/print',
    { ...FORM, origin: second.baseUrl, 'sec-fetch-site': 'same-origin' },
    `content=x&formToken=${encodeURIComponent(token)}`,
  );
  assert.equal(res.status, 303, res.body);
});

test('only expected host names are answered (DNS rebinding): 421 naming ALLOWED_HOSTS, for HTTP and MQTT over WebSocket', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, allowedHosts: ['printhop.example.com'] });
  const rebinding = await raw(server, 'GET', '/jobs', { host: 'attacker.example' });
  assert.equal(rebinding.status, 421);
  assert.match(rebinding.body, /ALLOWED_HOSTS/);
  assert.equal((await raw(server, 'GET', '/', { host: 'attacker.example:3000' })).status, 421);
  for (const host of [
    '127.0.0.1',
    `127.0.0.1:${server.httpPort}`,
    '[::1]:3000',
    'localhost:3000',
    '192.168.1.20',
    os.hostname(),
    `${os.hostname()}.local:3000`,
    'printhop.example.com',
    'PRINTHOP.example.com:8080',
  ]) {
    assert.equal((await raw(server, 'GET', '/health', { host })).status, 200, host);
  }
  // The WebSocket upgrade of MQTT is refused too, before any MQTT byte.
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/mqtt`, 'mqtt', {
      headers: { host: 'attacker.example' },
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => resolve(-1));
  });
  assert.equal(status, 421);
});

test('behind TRUST_PROXY the forwarded host is the one checked; without it X-Forwarded-Host is ignored', async (t) => {
  const trusting = await startTestServer(t, { mqttPort: -1, trustProxy: 'loopback' });
  assert.equal(
    (await raw(trusting, 'GET', '/jobs', { host: '127.0.0.1', 'x-forwarded-host': 'attacker.example' })).status,
    421,
  );
  const plain = await startTestServer(t, { mqttPort: -1 });
  assert.equal(
    (await raw(plain, 'GET', '/jobs', { host: '127.0.0.1', 'x-forwarded-host': 'attacker.example' })).status,
    200,
  );
});

test('a job that would print more than RECEIPT_MAX_LINES is refused with a clear 400 (JSON, htmx, page), and the preview says so', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, receiptMaxLines: 200 });
  const lines = 'x\n'.repeat(2000);
  const json = await postJson(server.baseUrl, '/print', { content: lines });
  assert.equal(json.status, 400);
  assert.match((json.json as { error: string }).error, /would be 2006 lines long on 48-column paper; the limit is 200/);
  const wide = await postJson(server.baseUrl, '/print', { content: '⒇'.repeat(4000) });
  assert.equal(wide.status, 400, 'each ⒇ prints as (20): 16,000 characters, 334 lines of 48');
  const htmx = await fetch(server.baseUrl + '/print', {
    method: 'POST',
    headers: { ...FORM, 'HX-Request': 'true' },
    body: new URLSearchParams({ content: lines }),
  });
  assert.equal(htmx.status, 400);
  assert.match(
    await htmx.text(),
    /<p class="error">Ce message ferait 2\s006 lignes de ticket : la limite est de 200\./,
  );
  const page = await fetch(server.baseUrl + '/print', {
    method: 'POST',
    redirect: 'manual',
    headers: FORM,
    body: new URLSearchParams({ content: lines }),
  });
  assert.equal(page.status, 400);
  assert.match(await page.text(), /^<!doctype html>[\s\S]*la limite est de 200/);
  assert.equal(await jobCount(server), 0, 'nothing stored, nothing cut');

  const preview = await fetch(server.baseUrl + '/fragments/preview', {
    method: 'POST',
    headers: { ...FORM, 'HX-Request': 'true' },
    body: new URLSearchParams({ content: lines }),
  });
  assert.equal(preview.status, 400);
  assert.match(await preview.text(), /la limite est de 200/);
  // Just under the limit prints.
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'x\n'.repeat(193) })).status, 201);
});

test('a message of only invisible or control characters is blank: 400', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  for (const content of ['\u200B\u200B', '\u0000\u001b', '\u00ad\ufeff \n\t', '\u2060\u0007']) {
    const res = await postJson(server.baseUrl, '/print', { content });
    assert.equal(res.status, 400, JSON.stringify(content));
    assert.match((res.json as { error: string }).error, /empty/);
  }
  assert.equal(await jobCount(server), 0);
});

test('the preview has the job length cap and a rate limit of its own, which does not eat the print budget', async (t) => {
  const server = await startTestServer(t, {
    mqttPort: -1,
    previewRate: { perMinute: 60, burst: 5 },
    printRate: { perMinute: 60, burst: 2 },
  });
  const long = await fetch(server.baseUrl + '/fragments/preview', {
    method: 'POST',
    headers: { ...FORM, 'HX-Request': 'true' },
    body: new URLSearchParams({ content: 'ﷺ'.repeat(5000) }),
  });
  assert.equal(long.status, 400);
  assert.match(await long.text(), /5\s000 caractères : la limite est de 4\s000/);
  let limited: Response | null = null;
  for (let i = 0; i < 10 && !limited; i++) {
    const res = await fetch(server.baseUrl + '/fragments/preview', {
      method: 'POST',
      headers: { ...FORM, 'HX-Request': 'true' },
      body: 'content=a',
    });
    if (res.status === 429) limited = res;
    else assert.equal(res.status, 200);
  }
  assert.ok(limited, 'previews are rate limited');
  assert.ok(limited.headers.get('retry-after'));
  assert.match(await limited.text(), /Aperçu en pause/);
  assert.equal(
    (await postJson(server.baseUrl, '/print', { content: 'toujours possible' })).status,
    201,
    'the print budget is intact',
  );
});

test('live-update streams are capped per address and in total, with a clear 429 / 503', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, eventStreams: { total: 5, perAddress: 3 } });
  const open: http.ClientRequest[] = [];
  t.after(() => open.forEach((r) => r.destroy()));
  const stream = (route: string, address = '127.0.0.1') =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.httpPort, path: route, localAddress: address }, (res) => {
        if (res.statusCode === 200) return resolve({ status: 200, body: '' });
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      open.push(req);
    });
  for (let i = 0; i < 3; i++) assert.equal((await stream(i % 2 ? '/jobs/events' : '/events')).status, 200);
  const perAddress = await stream('/events');
  assert.equal(perAddress.status, 429);
  assert.match(perAddress.body, /MAX_EVENT_STREAMS_PER_ADDRESS|live-update streams from your address/);
  // Other loopback addresses (127.0.0.2, 127.0.0.3) fill the total.
  assert.equal((await stream('/events', '127.0.0.2')).status, 200);
  assert.equal((await stream('/events', '127.0.0.2')).status, 200);
  const total = await stream('/events', '127.0.0.3');
  assert.equal(total.status, 503);
  assert.match(total.body, /MAX_EVENT_STREAMS/);
  // A closed stream frees its place.
  open[0]!.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await stream('/events', '127.0.0.3')).status, 200);
});

test('many pages connecting at once share their snapshots (one read and render per batch), all of them served', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, eventStreams: { total: 2000, perAddress: 2000 } });
  for (let i = 0; i < 20; i++) await postJson(server.baseUrl, '/print', { content: `message ${i} `.repeat(40) });
  // Each snapshot reads the job list once: counted from here on.
  let reads = 0;
  const list = server.jobs.queries.list.bind(server.jobs);
  server.jobs.queries.list = (...args: Parameters<typeof list>) => {
    reads++;
    return list(...args);
  };
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const requests: http.ClientRequest[] = [];
  t.after(() => {
    requests.forEach((r) => r.destroy());
    agent.destroy();
  });
  let snapshots = 0;
  for (let i = 0; i < 600; i++) {
    const req = http.get({ host: '127.0.0.1', port: server.httpPort, path: '/events', agent }, (res) => {
      let text = '';
      const onData = (chunk: Buffer) => {
        text += chunk.toString();
        if (!text.includes('</hx-partial>')) return;
        snapshots++;
        res.off('data', onData);
        res.resume();
      };
      res.on('data', onData);
    });
    req.on('error', () => undefined);
    requests.push(req);
  }
  // The event loop keeps answering others meanwhile (timing is not asserted: this machine is shared).
  const deadline = Date.now() + 30_000;
  while (snapshots < 600 && Date.now() < deadline) assert.equal((await fetch(server.baseUrl + '/health')).status, 200);
  assert.equal(snapshots, 600);
  // Before: one read and one render per page, 600 in a burst (a request waited 3.9 s behind them here).
  assert.ok(reads <= 60, `${reads} snapshot reads for 600 pages`);
});

test('a body announced over BODY_LIMIT_BYTES gets 413 at once, before any byte of it is sent', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(server.httpPort, '127.0.0.1', () => {
      socket.write(
        `POST /print HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n`,
      );
    });
    let text = '';
    socket.on('data', (c) => {
      text += c.toString();
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve(text);
    }, 3000);
  });
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /connection: close/i);
});

test('/vendor/ answers only its three files: constructor, __proto__, toString are 404, not 500', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    const res = await fetch(`${server.baseUrl}/vendor/${name}`);
    assert.equal(res.status, 404, name);
  }
  assert.equal((await fetch(`${server.baseUrl}/vendor/htmx.min.js`)).status, 200);
});

test('a shared snapshot is reused only while nothing changed, and never older than a change made before it was asked for', async () => {
  let version = 0;
  let computes = 0;
  let release: (() => void) | null = null;
  const shared = new SharedSnapshot(async () => {
    computes++;
    const seen = version;
    await new Promise<void>((resolve) => (release = resolve));
    return seen;
  });
  const first = shared.get();
  const second = shared.get();
  await new Promise((r) => setImmediate(r));
  release!();
  assert.deepEqual(await Promise.all([first, second]), [0, 0]);
  assert.equal(computes, 1, 'asked together: one read');
  const cached = await shared.get();
  assert.equal(cached, 0);
  assert.equal(computes, 1, 'nothing changed: reused');
  // A change (its event) after the last read: a new read.
  version = 2;
  shared.invalidate();
  const afterChange = shared.get();
  await new Promise((r) => setImmediate(r));
  release!();
  assert.equal(await afterChange, 2);
  assert.equal(computes, 2);
  // A change while a read is under way: that read may predate it, so the caller gets another one.
  shared.invalidate();
  const during = shared.get();
  assert.equal(computes, 3);
  version = 3;
  shared.invalidate();
  release!();
  await waitFor('second read', () => computes === 4);
  release!();
  assert.equal(await during, 3);
});
