/**
 * What a GET /jobs/events replay may cost (issue 20, finding 2): bounded by bytes, not rows. Over real HTTP
 * with Express, on the in-memory job store: a client that does not read holds one page of the log and its
 * byte budget, never the log; one replay sends at most EVENT_REPLAY_MAX_BYTES, then `event: resync`; each
 * caller may start only so many replays. The server's memory under ten such clients is measured on a real
 * process in job-event-replay-memory.test.ts, its latency by `npm run bench -- --only=replay`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import express from 'express';
import pino from 'pino';
import { JobService } from '../../../../broker-server/jobs/job-service';
import { JobChangeLog } from '../../../../broker-server/jobs/job-change-log';
import { LiveStreams } from '../../../../broker-server/http/live-streams';
import { REPLAY_PAGE, type ReplayLimits } from '../../../../broker-server/http/api/job-event-stream';
import type { PrinterStatusList } from '../../../../broker-server/printers/printer-status-list';
import { EventBus } from '../../../../broker-server/event-bus';
import { MemoryPrintStore } from '../../../support/memory-print-store';

/** The review's message: ~24 KB once JSON-escaped. */
export const HEAVY_CONTENT = 'a' + '\u0001'.repeat(3999);

async function setUp(t: TestContext, replay: ReplayLimits) {
  const store = new MemoryPrintStore();
  let rowsRead = 0;
  const eventsAfter = store.eventsAfter.bind(store);
  store.eventsAfter = async (after, limit) => {
    const page = await eventsAfter(after, limit);
    rowsRead += page.length;
    return page;
  };
  const jobs = new JobService(store, pino({ level: 'silent' }));
  const changes = new JobChangeLog(store, pino({ level: 'silent' }));
  await changes.start();
  t.after(() => changes.stop());
  const live = new LiveStreams(
    jobs,
    changes,
    { events: new EventBus() } as unknown as PrinterStatusList,
    { defaultPrinterId: 'p1', replayMs: 24 * 3_600_000, replay },
    pino({ level: 'silent' }),
  );
  live.start();
  const app = express();
  app.get('/jobs/events', live.handleJson);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    await live.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { jobs, live, port, rowsRead: () => rowsRead };
}

/** A raw connection that asks for a replay and reads nothing until `resume()`. */
function replayWithoutReading(port: number, lastEventId: string) {
  const socket = net.connect(port, '127.0.0.1');
  socket.pause();
  socket.write(`GET /jobs/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: ${lastEventId}\r\n\r\n`);
  let text = '';
  return {
    socket,
    resume: () =>
      socket
        .setEncoding('latin1')
        .on('data', (d: string) => (text += d))
        .resume(),
    text: () => text,
  };
}

const waitFor = async (what: string, check: () => boolean, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

test('a replay to a client that does not read waits for its socket: it reads no more of the log, then sends at most EVENT_REPLAY_MAX_BYTES and a resync', async (t) => {
  const limits: ReplayLimits = { maxBytes: 12 * 1024 * 1024, bufferBytes: 64 * 1024, perMinute: 0, burst: 1 };
  const { jobs, live, port, rowsRead } = await setUp(t, limits);
  for (let i = 0; i < 600; i++) await jobs.create({ printerId: 'p1', content: HEAVY_CONTENT });
  const log = JSON.stringify((await jobs.queries.eventsAfter(0, 1)).map((e) => e.job)).length * 600;
  assert.ok(log > 14_000_000, `the log is ~14 MB of JSON (${log})`);

  const client = replayWithoutReading(port, '0');
  t.after(() => client.socket.destroy());
  await waitFor('the replay to wait for its reader', () => live.replaysWaiting === 1);
  const readWhileWaiting = rowsRead();
  // The kernel's socket buffers (a few MB on loopback) and the budget are all it could send ahead.
  assert.ok(readWhileWaiting < 600 - 2 * REPLAY_PAGE, `read ${readWhileWaiting} of 600 events, not the whole log`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(rowsRead(), readWhileWaiting, 'nothing more is read while the client does not read');

  client.resume();
  await waitFor('the resync', () => client.text().includes('event: resync'));
  const text = client.text();
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  const beforeResync = body.slice(0, body.indexOf('event: resync'));
  const sent = Buffer.byteLength(beforeResync.replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n/g, ''), 'latin1');
  assert.ok(sent <= limits.maxBytes + 100, `one replay sent ${sent} bytes; the cap is ${limits.maxBytes}`);
  const replayed = (beforeResync.match(/\nevent: job\n/g) ?? []).length;
  assert.ok(replayed > 300 && replayed < 600, `${replayed} events before the cap`);
  const resync = /id: (\d+)\.[0-9a-f]{8}\nevent: resync\ndata: (.*)\n/.exec(body)!;
  assert.equal(resync[1], '600', 'goes on from now');
  const data = JSON.parse(resync[2]!) as { reason: string; reread: string; lastEventId: number };
  assert.equal(data.reason, 'replay-too-large');
  assert.equal(data.reread, '/jobs');
  assert.equal(data.lastEventId, replayed, 'the last id it was sent');

  // Then live, from now.
  const job = await jobs.create({ printerId: 'p1', content: 'after' });
  await waitFor('the live change', () => client.text().includes(`"content":"after"`));
  assert.match(client.text(), new RegExp(`id: 601\\.[0-9a-f]{8}\nevent: job\ndata: \\{"id":${job.id},`));
});

test('replays are rate limited per caller (EVENT_REPLAYS_PER_MINUTE, EVENT_REPLAY_BURST); a stream from now is not a replay', async (t) => {
  const { jobs, port } = await setUp(t, { maxBytes: 1024 * 1024, bufferBytes: 64 * 1024, perMinute: 1, burst: 2 });
  for (let i = 0; i < 3; i++) await jobs.create({ printerId: 'p1', content: `job ${i}` });
  const open = (headers: Record<string, string>) =>
    new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
      const req = http.get(`http://127.0.0.1:${port}/jobs/events`, { headers }, (res) => {
        if (res.statusCode === 200) {
          res.destroy();
          return resolve({ status: 200, body: '' });
        }
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], body }));
      });
      req.on('error', reject);
    });
  assert.equal((await open({ 'Last-Event-ID': '0' })).status, 200);
  assert.equal((await open({ 'Last-Event-ID': '1' })).status, 200);
  const third = await open({ 'Last-Event-ID': '0' });
  assert.equal(third.status, 429);
  assert.ok(Number(third.retryAfter) >= 1);
  assert.match(third.body, /EVENT_REPLAYS_PER_MINUTE=1/);
  assert.equal((await open({})).status, 200, 'no Last-Event-ID: from now, nothing replayed');
  assert.equal((await open({ 'Last-Event-ID': '3' })).status, 200, 'level with the log: nothing replayed');
});
