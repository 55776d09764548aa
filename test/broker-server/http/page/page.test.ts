/** The page's server side over real HTTP: the live-updates stream, the receipt preview, reprint and form posts. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import type { PrintJob } from '../../../../broker-server/jobs/job-service';
import { layoutReceipt } from '../../../../protocol/receipt-layout';
import { getJson, postJson, startPrinting, startTestServer, type TestServer, waitFor } from '../../../support/harness';
import { readSse } from '../../../support/sse';

/** An open GET /events stream, its SSE messages parsed as they arrive. */
async function openStream(server: TestServer) {
  const abort = new AbortController();
  const res = await fetch(server.baseUrl + '/events', {
    headers: { accept: 'text/event-stream' },
    signal: abort.signal,
  });
  const messages: string[] = [];
  const reading = readSse(res.body!, (m) => {
    if (m.data !== undefined) messages.push(m.data);
  });
  return {
    res,
    messages,
    close: async () => {
      abort.abort();
      await reading;
    },
    next: (what: string, match: (message: string) => boolean) => waitFor(what, () => messages.find(match)),
  };
}

test('GET /events sends a snapshot, then every job change as an escaped fragment, and lets go of a page that leaves', async (t) => {
  const { server, addAgent } = await startPrinting(t);
  const earlier = (await postJson(server.baseUrl, '/print', { content: 'déjà là' })).json as PrintJob;
  const stream = await openStream(server);
  t.after(() => stream.close());
  assert.equal(stream.res.status, 200);
  assert.match(stream.res.headers.get('content-type') ?? '', /^text\/event-stream/);

  // A change made while the snapshot is read may be sent before it; the snapshot is never older.
  const first = await stream.next('snapshot', (m) =>
    m.startsWith('<hx-partial hx-target="#jobs" hx-swap="innerMorph">'),
  );
  assert.match(first, new RegExp(`id="job-${earlier.id}"`));
  assert.match(first, /<hx-partial hx-target="#printers"/);
  await waitFor('one page listening', () => server.live.clientCount === 1);

  await addAgent();
  const posted = (await postJson(server.baseUrl, '/print', { content: '<img src=x onerror=alert(1)>\nligne 2' }))
    .json as PrintJob;
  const printed = await stream.next(
    'printed fragment',
    (m) => m.includes(`id="job-${posted.id}"`) && m.includes('data-status="printed"'),
  );
  assert.match(printed, /^<hx-upsert hx-target="#job-list" key="data-order" sort="desc">/);
  assert.ok(printed.includes('&lt;img src=x onerror=alert(1)&gt;\nligne 2'), printed);
  assert.ok(!printed.includes('<img'));
  // The page gets each job's latest state per page of the event log, in order, never going back: `sent` rides
  // with `received` in one commit when the ack comes quickly (DESIGN, "Exactly once"), and then only the later
  // state of the two is shown.
  const statuses = stream.messages
    .filter((m) => m.includes(`id="job-${posted.id}"`))
    .map((m) => /data-status="(\w+)"/.exec(m)?.[1]);
  const order = ['pending', 'sent', 'received', 'printed'];
  assert.equal(statuses[0], 'pending', statuses.join(' → '));
  assert.equal(statuses.at(-1), 'printed', statuses.join(' → '));
  for (let i = 1; i < statuses.length; i++)
    assert.ok(order.indexOf(statuses[i]!) > order.indexOf(statuses[i - 1]!), statuses.join(' → '));
  await stream.next(
    'printer online fragment',
    (m) => m.includes('id="printer-printer-1"') && m.includes('data-state="online"'),
  );

  await stream.close();
  await waitFor('the page left', () => server.live.clientCount === 0);
});

test('stopping the server ends open streams instead of waiting for the pages to leave', async (t) => {
  const server = await startTestServer(t);
  // node:http tells a stream the server ended (its last chunk arrives: 'end') from one cut off ('aborted').
  const outcome = await new Promise<'ended' | 'cut'>((resolve, reject) => {
    const req = http.get(server.baseUrl + '/events', (res) => {
      let stopping = false;
      res.on('data', () => {
        if (stopping) return;
        stopping = true;
        void server.stop();
      });
      res.on('end', () => resolve(res.complete ? 'ended' : 'cut'));
      res.on('aborted', () => resolve('cut'));
      res.on('error', () => resolve('cut'));
    });
    req.on('error', reject);
  });
  assert.equal(outcome, 'ended');
  assert.equal(server.live.clientCount, 0);
});

test("the preview is the shared receipt layout, in the selected printer's reported width and code page", async (t) => {
  const { server, addAgent } = await startPrinting(t, { printers: ['printer-1', 'cuisine'], paperColumns: 42 });
  const preview = async (body: Record<string, string>) => {
    const res = await fetch(server.baseUrl + '/fragments/preview', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'HX-Request': 'true' },
      body: new URLSearchParams(body),
    });
    assert.equal(res.status, 200);
    const html = await res.text();
    const pre = /<pre class="receipt"[^>]*>([\s\S]*?)<\/pre>/.exec(html)?.[1] ?? '';
    const text = pre
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&');
    return { html, lines: text.split('\n') };
  };
  const content = 'Œufs brouillés <b>x</b> pour la table 12, avec du pain et du beurre demi-sel — merci “beaucoup” !';
  const withoutDate = (lines: string[]) => lines.filter((l) => !l.startsWith('Date: '));

  // No agent has reported yet: PAPER_COLUMNS and the default code page.
  const unreported = await preview({ content, printerId: 'cuisine' });
  assert.deepEqual(
    withoutDate(unreported.lines),
    withoutDate(layoutReceipt({ content, createdAt: new Date() }, { columns: 42 })),
  );
  assert.ok(unreported.html.includes('&lt;b&gt;x&lt;/b&gt;'));
  assert.match(unreported.html, /cuisine · 42 colonnes · PC858/);

  await addAgent({ printerId: 'cuisine', columns: 32, codePage: 'WPC1252' });
  await waitFor('cuisine reported', async () => (await server.printers.get('cuisine'))?.columns === 32);
  const reported = await preview({ content, printerId: 'cuisine' });
  assert.deepEqual(
    withoutDate(reported.lines),
    withoutDate(layoutReceipt({ content, createdAt: new Date() }, { columns: 32, codePage: 'WPC1252' })),
  );
  assert.ok(reported.lines.every((line) => line.length <= 32));
  assert.ok(reported.lines.includes('Œufs brouillés <b>x</b> pour la'), 'WPC1252 has Œ and the quotes');

  const other = await preview({ content, printerId: 'nowhere' });
  assert.match(other.html, /printer-1 · 42 colonnes/, 'an unknown printer falls back to the default one');
});

test('a 4,000-character form post fits the body limit even percent-encoded; reprint answers a fragment or a redirect', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const form = (route: string, body: string, headers: Record<string, string> = {}) =>
    fetch(server.baseUrl + route, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });

  const emoji = '😀'.repeat(4000);
  const big = await form('/print', new URLSearchParams({ content: emoji }).toString(), { 'HX-Request': 'true' });
  assert.equal(big.status, 201, await big.clone().text());
  const id = Number(/tâche n°(\d+)/.exec(await big.text())?.[1]);
  assert.equal((await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json.content, emoji);

  const tooEarly = await form(`/jobs/${id}/reprint`, '', { 'HX-Request': 'true' });
  assert.equal(tooEarly.status, 409);
  assert.match(
    await tooEarly.text(),
    /<p class="error">Seule une tâche imprimée, en échec ou interrompue peut être réimprimée\.<\/p>/,
  );

  await server.jobs.transition(id, 'failed', { error: 'printer absent' });
  const again = await form(`/jobs/${id}/reprint`, '', { 'HX-Request': 'true' });
  assert.equal(again.status, 201);
  assert.match(await again.text(), /Réimpression envoyée — tâche n°\d+/);
  const plain = await form(`/jobs/${id}/reprint`, '');
  assert.equal(plain.status, 303);
  assert.match(plain.headers.get('location') ?? '', /^\/\?sent=\d+$/);
  const missing = await form('/jobs/999999/reprint', '');
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /<p class="error">Cette tâche n’existe pas \(ou plus\)\.<\/p>/);

  const page = await (await fetch(server.baseUrl + '/')).text();
  assert.match(
    page,
    new RegExp(`<form class="reprint" method="post" action="/jobs/${id}/reprint"`),
    'a failed job has its reprint button',
  );
  assert.match(page, /réimpression du n°/);
});

test('the page needs nothing a strict CSP forbids: no inline script or style, no hx-on, htmx told not to add its stylesheet', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  await postJson(server.baseUrl, '/print', { content: 'style="color:red" <script>x</script>' });
  const page = await (await fetch(server.baseUrl + '/')).text();
  assert.doesNotMatch(page, /<script(?![^>]*\ssrc=)[^>]*>/, 'every script is a file');
  assert.doesNotMatch(page, /<style/);
  assert.doesNotMatch(page, /\sstyle=/);
  assert.doesNotMatch(page, /\shx-on/);
  assert.doesNotMatch(page, /\son[a-z]+=/);
  assert.match(page, /<meta name="htmx-config" content="\{&quot;includeIndicatorCSS&quot;: false/);
  for (const src of [
    '/vendor/htmx.min.js',
    '/vendor/hx-sse.min.js',
    '/vendor/hx-upsert.min.js',
    '/static/app.js',
    '/static/style.css',
  ]) {
    assert.equal((await fetch(server.baseUrl + src)).status, 200, src);
  }
  assert.equal((await fetch(server.baseUrl + '/vendor/htmx.js')).status, 404);
});
