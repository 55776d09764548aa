/**
 * `PRINTER=cups-raw:QUEUE`: the receipt's ESC/POS bytes through a real, private cupsd as raw jobs
 * named `printhop-job-<id>`, decoded from what the queue's backend received, each job once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import { createTransport, PrinterUnavailableError } from '../../../agent/printers';
import { decodeEscPos } from '../../../agent/printers/escpos-decoder';
import { loadAgentConfig } from '../../../config';
import { startTestCups } from '../../support/cups';
import { getJson, postJson, startTestAgent, startTestServer, waitFor } from '../../support/harness';

test('PRINTER=cups-raw:QUEUE is a raw CUPS transport of ESC/POS; bad queue names are refused by name', () => {
  const transport = createTransport('cups-raw:Receipts', 1000);
  assert.equal(transport.description, 'cups-raw:Receipts');
  assert.equal(transport.format, 'escpos');
  assert.equal(loadAgentConfig({ PRINTER: 'cups-raw:Receipts' }).printer, 'cups-raw:Receipts');
  assert.throws(
    () => loadAgentConfig({ PRINTER: 'cups-raw:two words' }),
    /PRINTER="cups-raw:two words": must be .*cups-raw:QUEUE/,
  );
  assert.throws(() => loadAgentConfig({ PRINTER: 'cups-raw:' }), /PRINTER=/);
});

test('cups-raw:QUEUE through a real cupsd: the ESC/POS bytes arrive untouched, one raw job per receipt, named printhop-job-<id>', async (t) => {
  const cups = await startTestCups(t);
  const paper = cups.addQueue('receipts');
  const server = await startTestServer(t);
  await startTestAgent(t, server, {
    mqttUrl: server.tcpUrl,
    printer: 'cups-raw:receipts',
    cupsServer: cups.socket,
    columns: 32,
    codePage: 'PC858',
    timeZone: 'UTC',
  });
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');

  const contents = ['Crème brûlée à 5 €', 'Ça coûte 12,50 € TTC', 'Œufs ×3 — «fin»\x1b@'];
  const jobs: PrintJob[] = [];
  for (const content of contents) jobs.push((await postJson(server.baseUrl, '/print', { content })).json as PrintJob);
  for (const job of jobs)
    await waitFor(
      `job ${job.id} printed`,
      async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
    );

  const decoded = await waitFor('CUPS handed every job to the backend', () => {
    const result = decodeEscPos(fs.existsSync(paper) ? fs.readFileSync(paper) : Buffer.alloc(0));
    return result.receipts.filter((r) => r.cut).length >= jobs.length ? result : null;
  });
  assert.deepEqual(decoded.unexpected, [], 'no byte that is not a command Printhop sends');
  const receipts = decoded.receipts.filter((r) => r.cut);
  assert.equal(receipts.length, jobs.length, 'each job once');
  assert.deepEqual(
    receipts.map((r) => r.lines[3]),
    ['Crème brûlée à 5 €', 'Ça coûte 12,50 € TTC', 'OEufs ×3 - «fin»@'], // PC858 has no Œ: spelt out
  );
  for (const r of receipts) {
    assert.equal(r.codePage, 'PC858');
    assert.ok(
      r.lines.every((line) => line.length <= 32),
      '58 mm: 32 columns',
    );
  }
  const titles = fs.readFileSync(`${paper}.titles`, 'utf8').trim().split('\n');
  assert.deepEqual(
    titles,
    jobs.map((j) => `printhop-job-${j.id}`),
  );

  // No queue of that name: unavailable (the job would wait), nothing sent.
  await assert.rejects(
    createTransport('cups-raw:nowhere', 5000, { cupsServer: cups.socket }).open(),
    (err: unknown) => err instanceof PrinterUnavailableError && /"nowhere"/.test(err.message),
  );
});
