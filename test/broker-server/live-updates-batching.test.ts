/**
 * Live updates (broker-server/http/live-updates.ts) over real HTTP with Express: changes made in the same
 * turn of the event loop reach each event stream in one write, in order, and nothing is lost or held back.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import express from 'express';
import pino from 'pino';
import type { JobService } from '../../broker-server/jobs/job-service';
import { LiveUpdates } from '../../broker-server/http/live-updates';
import type { PrinterRegistry } from '../../broker-server/printers/printer-registry';

test('GET /jobs/events: the changes of one tick go in one write per stream, in order; later ones follow', async (t) => {
  const jobs = new EventEmitter();
  const printers = new EventEmitter();
  const live = new LiveUpdates(
    jobs as unknown as JobService,
    printers as unknown as PrinterRegistry,
    { defaultPrinterId: 'p1' },
    pino({ level: 'silent' }),
  );
  live.start();
  let writes = 0;
  const app = express();
  app.get(
    '/jobs/events',
    (req, res, next) => {
      const write = res.write.bind(res) as (...args: unknown[]) => boolean;
      res.write = ((...args: unknown[]) => {
        writes++;
        return write(...args);
      }) as typeof res.write;
      next();
    },
    live.handleJson,
  );
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await live.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  let text = '';
  await new Promise<void>((resolve) => {
    http.get(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jobs/events`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      resolve();
    });
  });
  const waitFor = async (check: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  await waitFor(() => text.includes(': connected'));
  const before = writes;
  const job = (id: number, status: string) => ({
    id,
    printerId: 'p1',
    content: 'x',
    kind: 'message',
    status,
    error: null,
    reprintOf: null,
    createdAt: '',
    updatedAt: '',
    sentAt: null,
    receivedAt: null,
  });
  jobs.emit('job', job(1, 'queued'));
  jobs.emit('job', job(1, 'sent'));
  printers.emit('printer', { id: 'p1', state: 'online' });
  jobs.emit('job', job(2, 'queued'));
  await waitFor(() => (text.match(/^event: /gm) ?? []).length === 4);
  assert.equal(writes - before, 1, 'four changes of one tick, one write');
  const order = [...text.matchAll(/^data: (.*)$/gm)].map(
    (m) => JSON.parse(m[1]!) as { id: number | string; status?: string; state?: string },
  );
  assert.deepEqual(
    order.map((e) => `${e.id} ${e.status ?? e.state}`),
    ['1 queued', '1 sent', 'p1 online', '2 queued'],
  );
  jobs.emit('job', job(1, 'printed'));
  await waitFor(() => text.includes('"status":"printed"'));
  assert.equal(writes - before, 2, 'a change of a later tick is sent on its own, at once');
});
