import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { AGENT_VERSION } from '../../agent/print-agent';
import { columnRuler } from '../../protocol/receipt-layout';
import { getJson, postJson, startTestAgent, startTestServer, startVirtualPrinter, waitFor } from '../support/harness';

const printed = (baseUrl: string, id: number) =>
  waitFor(`job ${id} printed`, async () => {
    const { json } = await getJson<PrintJob>(baseUrl, `/jobs/${id}`);
    return json.status === 'printed' ? json : null;
  });

test('the column ruler numbers every column, its last digit in the last column', () => {
  assert.deepEqual(columnRuler(12), ['         1', '123456789012']);
  assert.equal(columnRuler(48)[1]!.length, 48);
  assert.equal(columnRuler(42)[0], '         1         2         3         4');
});

test('POST /printers/:id/test prints, once, the code page’s accents, the column ruler and the printer’s settings', async (t) => {
  const server = await startTestServer(t);
  const agent = await startTestAgent(t, server, { mqttUrl: server.tcpUrl, timeZone: 'UTC' });
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const res = await postJson(server.baseUrl, '/printers/printer-1/test', {});
  assert.equal(res.status, 201);
  const job = res.json as PrintJob;
  assert.equal(job.kind, 'test');
  assert.equal(job.printerId, 'printer-1');
  await printed(server.baseUrl, job.id);
  // The same path as every job: a duplicate delivery prints nothing more.
  await server.dispatcher.publish(job);
  await waitFor(
    'ack re-sent and handled',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );

  const paper = agent.paper();
  assert.deepEqual(paper.unexpected, []);
  assert.equal(paper.receipts.length, 1);
  const receipt = paper.receipts[0]!;
  assert.equal(receipt.codePage, 'PC858');
  assert.ok(receipt.cut);
  const lines = receipt.lines;
  assert.equal(lines[1], 'PAGE DE TEST PRINTHOP');
  for (const expected of [
    'Imprimante : printer-1',
    `Agent : ${AGENT_VERSION}`,
    'Code page : PC858 (ESC t 19)',
    'Colonnes : 48',
    'àâäçéèêëîïôöùûüÿ',
    'ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ',
    "€ oe OE « » ' - ... ½ °",
  ]) {
    assert.ok(lines.includes(expected), `${expected} in\n${receipt.text}`);
  }
  assert.ok(receipt.text.includes(`Sortie :\n${agent.config.printer}`), 'a long setting wraps like any text');
  assert.deepEqual(lines.slice(-3, -1), columnRuler(48));
  assert.ok(lines.every((l) => l.length <= 48));
});

test('a test print on a 58 mm WPC1252 network printer shows that printer’s own settings', async (t) => {
  const server = await startTestServer(t);
  const printer = await startVirtualPrinter(t);
  await startTestAgent(t, server, { mqttUrl: server.tcpUrl, printer: printer.url, columns: 32, codePage: 'WPC1252' });
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const job = (await postJson(server.baseUrl, '/printers/printer-1/test', {})).json as PrintJob;
  await printed(server.baseUrl, job.id);
  const receipt = printer.receipts[0]!;
  assert.equal(receipt.codePage, 'WPC1252');
  assert.ok(receipt.lines.includes('Code page : WPC1252 (ESC t 16)'));
  assert.ok(receipt.lines.includes('Colonnes : 32'));
  assert.ok(receipt.lines.includes('€ œ Œ « » ’ — … ½ °'), receipt.text);
  assert.ok(receipt.lines.includes(`Sortie : ${printer.url}`));
  assert.deepEqual(receipt.lines.slice(-3, -1), columnRuler(32));
});

test('the page has a test print button per printer; htmx gets a confirmation, a plain form a redirect, an unknown printer 404', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const page = await (await fetch(server.baseUrl + '/')).text();
  assert.match(
    page,
    /<form class="printer-test" method="post" action="\/printers\/printer-1\/test" hx-post="\/printers\/printer-1\/test" hx-target="#result"/,
  );
  assert.match(page, />Page de test<\/button>/);

  const htmx = await fetch(server.baseUrl + '/printers/printer-1/test', {
    method: 'POST',
    headers: { 'HX-Request': 'true' },
  });
  assert.equal(htmx.status, 201);
  assert.match(await htmx.text(), /Page de test envoyée à printer-1 — tâche n°\d+/);
  const plain = await fetch(server.baseUrl + '/printers/printer-1/test', {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  assert.equal(plain.status, 303);
  assert.match(plain.headers.get('location') ?? '', /^\/\?sent=\d+$/);

  const unknown = await postJson(server.baseUrl, '/printers/nowhere/test', {});
  assert.equal(unknown.status, 404);
  assert.match((unknown.json as { error: string }).error, /no printer "nowhere"/);
  assert.equal((await postJson(server.baseUrl, '/printers/a%2Fb/test', {})).status, 404);
  const jobs = (await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json;
  assert.deepEqual(
    jobs.map((j) => j.kind),
    ['test', 'test'],
  );
});
