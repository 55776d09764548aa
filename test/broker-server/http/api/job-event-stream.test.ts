/**
 * GET /jobs/events (broker-server/http/job-event-stream.ts) over real HTTP with Express, on the
 * in-memory job store: changes committed in the same turn reach each stream in one write, in order,
 * each with the id of its event-log entry; a client that comes back with Last-Event-ID gets exactly what
 * it missed, then the live changes; a bad or unknown id is answered clearly.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import express from 'express';
import pino from 'pino';
import { JobChangeLog } from '../../../../broker-server/jobs/job-change-log';
import { JobService } from '../../../../broker-server/jobs/job-service';
import { LiveStreams } from '../../../../broker-server/http/live-streams';
import { MAX_REPLAY_EVENTS } from '../../../../broker-server/http/api/job-event-stream';
import type {
  PrinterStatusList,
  PrinterStatusListEvents,
} from '../../../../broker-server/printers/printer-status-list';
import { EventBus } from '../../../../broker-server/event-bus';
import { MemoryPrintStore } from '../../../support/memory-print-store';

interface Stream {
  text: () => string;
  status: number;
  events: () => Array<{ id?: string; event?: string; data?: string }>;
  close: () => void;
}

async function setUp(t: TestContext) {
  const store = new MemoryPrintStore();
  const jobs = new JobService(store, pino({ level: 'silent' }));
  const changes = new JobChangeLog(store, pino({ level: 'silent' }));
  await changes.start();
  const printers = { events: new EventBus<PrinterStatusListEvents>() };
  const live = new LiveStreams(
    jobs,
    changes,
    printers as unknown as PrinterStatusList,
    { defaultPrinterId: 'p1', replayMs: 24 * 3_600_000 },
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
  const port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    await live.stop();
    await changes.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const open = (headers: Record<string, string> = {}, query = ''): Promise<Stream> =>
    new Promise((resolve) => {
      let text = '';
      const req = http.get(`http://127.0.0.1:${port}/jobs/events${query}`, { headers }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        resolve({
          text: () => text,
          status: res.statusCode ?? 0,
          events: () =>
            text
              .split('\n\n')
              .filter((block) => block.trim() && !block.startsWith(':'))
              .map((block) => {
                const fields: Record<string, string> = {};
                for (const line of block.split('\n')) {
                  const at = line.indexOf(': ');
                  if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
                }
                return fields;
              }),
          close: () => req.destroy(),
        });
      });
    });
  return { store, jobs, printers, live, open, writes: () => writes };
}

const waitFor = async (what: string, check: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** An event id's number: `12.0b6f81c2` is event 12, tagged with its job's uid. */
const numberOf = (id: string | undefined) => id?.split('.')[0];

const jobLines = (s: Stream) =>
  s
    .events()
    .filter((e) => e.event === 'job')
    .map((e) => {
      const job = JSON.parse(e.data!) as { id: number; status: string };
      return `${numberOf(e.id)} ${job.id} ${job.status}`;
    });

test('GET /jobs/events: the changes of one tick go in one write per stream, in order, each with its id', async (t) => {
  const { jobs, printers, open, writes } = await setUp(t);
  const stream = await open();
  await waitFor('connected', () => stream.text().includes(': connected\nid: 0\n\n'));
  const before = writes();
  await Promise.all([jobs.create({ printerId: 'p1', content: 'a' }), jobs.create({ printerId: 'p1', content: 'b' })]);
  await jobs.transition(1, 'sent');
  await waitFor('three job events', () => jobLines(stream).length === 3);
  assert.deepEqual(jobLines(stream), ['1 1 pending', '2 2 pending', '3 1 sent']);
  assert.ok(writes() - before <= 2, `the changes of two ticks, at most two writes (got ${writes() - before})`);
  printers.events.emit('printer', { id: 'p1', state: 'online' } as never);
  await waitFor('printer event', () => stream.events().some((e) => e.event === 'printer'));
  const printer = stream.events().find((e) => e.event === 'printer')!;
  assert.equal(printer.id, undefined, 'printer changes are not in the log and carry no id');
});

test('GET /jobs/events with Last-Event-ID: what was missed, in order, then the live changes; nothing twice', async (t) => {
  const { jobs, open } = await setUp(t);
  const a = await jobs.create({ printerId: 'p1', content: 'a' }); // event 1
  await jobs.transition(a.id, 'sent'); // 2
  const first = await open();
  await waitFor('connected', () => first.text().includes('id: 2'));
  await jobs.transition(a.id, 'received'); // 3
  await waitFor('event 3', () => jobLines(first).length === 1);
  first.close();
  // Missed while away: 4 and 5.
  await jobs.transition(a.id, 'printed', { error: null }); // 4
  const b = await jobs.create({ printerId: 'p1', content: 'b' }); // 5
  const back = await open({ 'Last-Event-ID': '3' });
  await waitFor('the missed ones', () => jobLines(back).length === 2);
  await jobs.transition(b.id, 'sent'); // 6
  await waitFor('the live one', () => jobLines(back).length === 3);
  assert.deepEqual(jobLines(back), [`4 ${a.id} printed`, `5 ${b.id} pending`, `6 ${b.id} sent`]);
  const printed = JSON.parse(back.events().find((e) => numberOf(e.id) === '4')!.data!) as Record<string, unknown>;
  assert.equal(printed.content, 'a');
  assert.ok(printed.printedAt);
  // The job as it was at event 2: sent, not yet received or printed.
  const replayAll = await open({}, '?lastEventId=1');
  await waitFor('replayed from 1', () => jobLines(replayAll).length === 5);
  const atSent = JSON.parse(replayAll.events().find((e) => numberOf(e.id) === '2')!.data!) as Record<string, unknown>;
  assert.equal(atSent.status, 'sent');
  assert.ok(atSent.sentAt);
  assert.equal(atSent.receivedAt, null);
  assert.equal(atSent.printedAt, null);
  assert.equal(atSent.finishedAt, null);
});

test('GET /jobs/events?status=: only the changes to those statuses, live and replayed; the others skipped, not sent later', async (t) => {
  const { jobs, printers, open } = await setUp(t);
  const all = await open();
  const outcomes = await open({}, '?status=printed,failed');
  await waitFor('connected', () => outcomes.text().includes(': connected'));
  const a = await jobs.create({ printerId: 'p1', content: 'a' }); // event 1
  const b = await jobs.create({ printerId: 'p1', content: 'b' }); // 2
  await jobs.transition(a.id, 'sent'); // 3
  await jobs.transition(a.id, 'printed', { error: null }); // 4
  await jobs.transition(b.id, 'failed', { error: 'paper out' }); // 5
  await jobs.transition(b.id, 'sent').catch(() => null); // refused: failed is final, no event
  await waitFor('every change on the unfiltered stream', () => jobLines(all).length === 5);
  await waitFor('the outcomes', () => jobLines(outcomes).length === 2);
  assert.deepEqual(jobLines(outcomes), [`4 ${a.id} printed`, `5 ${b.id} failed`]);
  printers.events.emit('printer', { id: 'p1', state: 'online' } as never);
  await waitFor('printer event on the filtered stream', () => outcomes.events().some((e) => e.event === 'printer'));
  // Replayed with the same filter: from event 1, only 4 and 5; then the live ones that match.
  const back = await open({ 'Last-Event-ID': '1' }, '?status=printed');
  await waitFor('the replayed outcome', () => jobLines(back).length === 1);
  const c = await jobs.create({ printerId: 'p1', content: 'c' }); // 6: not sent to back
  await jobs.transition(c.id, 'printed', { error: null }); // 7
  await waitFor('the live outcome', () => jobLines(back).length === 2);
  assert.deepEqual(jobLines(back), [`4 ${a.id} printed`, `7 ${c.id} printed`]);
  assert.equal(jobLines(all).length, 7);
});

test('GET /jobs/events?status= that is not a list of job statuses is a 400 that names them', async (t) => {
  const { open } = await setUp(t);
  for (const bad of ['', 'done', 'printed,,failed', 'printed;failed']) {
    const s = await open({}, `?status=${encodeURIComponent(bad)}`);
    assert.equal(s.status, 400, bad);
    await waitFor('the body', () => s.text().includes('error'));
    assert.match(
      s.text(),
      /status must be job statuses separated by commas \(pending, sent, received, printed, failed, interrupted\)/,
    );
  }
  const fine = await open({}, '?status=printed,%20failed');
  assert.equal(fine.status, 200);
  fine.close();
});

test('GET /jobs/events: a Last-Event-ID that is not a number is a 400; one in the future or past the window a resync', async (t) => {
  const { jobs, store, open } = await setUp(t);
  for (const bad of ['abc', '-1', '1.5', '9'.repeat(20)]) {
    const s = await open({ 'Last-Event-ID': bad });
    assert.equal(s.status, 400, bad);
    await waitFor('the body', () => s.text().includes('error'));
    assert.match(s.text(), /Last-Event-ID must be the id of an event this stream sent/);
  }
  const job = await jobs.create({ printerId: 'p1', content: 'a' });
  const future = await open({ 'Last-Event-ID': '999' });
  assert.equal(future.status, 200);
  await waitFor('resync', () => future.events().some((e) => e.event === 'resync'));
  const resync = future.events().find((e) => e.event === 'resync')!;
  assert.match(resync.id!, /^1\.[0-9a-f]{8}$/, 'the resync carries the current id to resume from');
  assert.equal((JSON.parse(resync.data!) as { reason: string }).reason, 'unknown-event-id');
  await jobs.transition(job.id, 'sent');
  await waitFor('live after resync', () => jobLines(future).length === 1);
  assert.deepEqual(jobLines(future), [`2 ${job.id} sent`]);

  // Pruned past the window: events 1..2 gone but the newest, which always stays.
  store.events.forEach((e) => (e.at = new Date(Date.now() - 48 * 3600_000).toISOString()));
  await jobs.pruneEvents(new Date(Date.now() - 24 * 3600_000));
  assert.deepEqual(
    store.events.map((e) => e.id),
    [2],
  );
  await jobs.transition(job.id, 'received'); // 3
  const old = await open({ 'Last-Event-ID': '0' });
  await waitFor('resync', () => old.events().some((e) => e.event === 'resync'));
  assert.equal(
    (JSON.parse(old.events().find((e) => e.event === 'resync')!.data!) as { reason: string }).reason,
    'outside-window',
  );
  // Level with the log: nothing to replay, no resync.
  const level = await open({ 'Last-Event-ID': '3' });
  await waitFor('connected', () => level.text().includes(': connected'));
  assert.equal(level.events().length, 0);
  assert.ok(MAX_REPLAY_EVENTS >= 1000);
});

test('GET /jobs/events: an id of before a restore, whose number now names another change, is a resync, never a silent skip', async (t) => {
  // Two databases: the one the client followed, and the one that replaced it (a restore, a reinstall),
  // where the same numbers name other changes.
  const before = await setUp(t);
  const a = await before.jobs.create({ printerId: 'p1', content: 'a' }); // event 1
  await before.jobs.transition(a.id, 'sent'); // event 2
  const stream = await before.open({ 'Last-Event-ID': '0' });
  await waitFor('two events', () => jobLines(stream).length === 2);
  const seen = stream.events().at(-1)!.id!;
  assert.match(seen, /^2\.[0-9a-f]{8}$/, 'an id is the event number and its job uid tag');
  assert.equal(seen.split('.')[1], a.uid.slice(-8), "a time-ordered uid's last 8 digits, its random ones");

  const after = await setUp(t);
  const b = await after.jobs.create({ printerId: 'p1', content: 'b' }); // event 1 again
  await after.jobs.transition(b.id, 'sent'); // event 2 again: another job
  await after.jobs.transition(b.id, 'received'); // event 3, which the client would skip
  const back = await after.open({ 'Last-Event-ID': seen });
  await waitFor('resync', () => back.events().some((e) => e.event === 'resync'));
  const resync = back.events().find((e) => e.event === 'resync')!;
  assert.equal((JSON.parse(resync.data!) as { reason: string }).reason, 'other-database');
  assert.deepEqual(jobLines(back), [], "nothing replayed from a place that is not the client's");

  // Its own ids replay as before; a bare number (from a server before tags) cannot be told apart.
  const own = await after.open({ 'Last-Event-ID': `2.${b.uid.slice(-8)}` });
  await waitFor('event 3', () => jobLines(own).length === 1);
  assert.deepEqual(jobLines(own), [`3 ${b.id} received`]);
  const bare = await after.open({ 'Last-Event-ID': '2' });
  await waitFor('event 3', () => jobLines(bare).length === 1);
});
