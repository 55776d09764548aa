/**
 * The agent's exactly-once rules (DESIGN.md, "Exactly once on paper"), with the journal, the link and the
 * printer in memory: no broker, no file, no socket. Tests of waits (a journal's retries, the idle close) run
 * on the test's clock (support/fake-time.ts).
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { type JournalEntry, legacyKey } from '../../agent/journal';
import {
  PRINTER_IDLE_CLOSE_MS,
  PrintAgent,
  STATUS_AFTER_JOB_MS,
  STATUS_DURING_BACKLOG_MS,
} from '../../agent/print-agent';
import { type AgentConfig, loadAgentConfig } from '../../config';
import type { JobMessage } from '../../protocol/messages';
import { FakeLink } from '../support/fake-link';
import { fakeTime } from '../support/fake-time';
import { uidOf } from '../support/job-uids';
import { MemoryJournal } from '../support/memory-journal';
import { MemoryPrinter } from '../support/memory-printer';
import { propertyRuns } from '../support/property-runs';

const job = (id: number, content = `receipt ${id}`, createdAt = new Date().toISOString()): JobMessage => ({
  id,
  uid: uidOf(id),
  content,
  createdAt,
});

function startParts(
  t: TestContext,
  options: {
    entries?: JournalEntry[];
    answersStatus?: boolean;
    holdsOpen?: boolean;
    config?: Partial<AgentConfig>;
  } = {},
) {
  const steps: string[] = [];
  const journal = new MemoryJournal(steps, options.entries);
  const printer = new MemoryPrinter(steps, { answersStatus: options.answersStatus, holdsOpen: options.holdsOpen });
  const link = new FakeLink(steps);
  const config = loadAgentConfig(
    {},
    { printerRetryMinMs: 2, printerRetryMaxMs: 10, printerStatusIntervalMs: 0, ...options.config },
  );
  const agent = new PrintAgent(config, journal, printer, link, pino({ level: 'silent' }));
  t.after(() => agent.stop());
  return { steps, journal, printer, link, agent };
}

async function until(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

test('a new job: journal received → PUBACK + received ack → journal printing → bytes → journal printed → printed ack', async (t) => {
  const { steps, journal, printer, link, agent } = startParts(t);
  await agent.start();
  await link.deliver(job(1, 'Hello world'));
  await until('the printed ack', () => link.acksOf(1).includes('printed'));
  assert.deepEqual(steps, [
    'journal 1 received',
    'PUBACK 1',
    'ack 1 received',
    'printer open',
    'journal 1 printing',
    'bytes',
    'printer close',
    'journal 1 printed',
    'ack 1 printed',
  ]);
  assert.match(printer.receipts().join(''), /Hello world/);
  assert.equal(journal.get(uidOf(1))?.acked, 'printed');
  assert.equal(journal.get(uidOf(1))?.job, undefined, 'a final entry forgets the content');
});

test('jobs are printed one at a time, in the order they arrived', async (t) => {
  const { steps, printer, link, agent } = startParts(t);
  await agent.start();
  for (const id of [1, 2, 3]) await link.deliver(job(id));
  await until('three printed acks', () => link.acks.filter((a) => a.status === 'printed').length === 3);
  assert.deepEqual(
    printer.receipts().map((r) => /receipt (\d)/.exec(r)?.[1]),
    ['1', '2', '3'],
  );
  const printing = steps.filter((s) => /^journal \d (printing|printed)$/.test(s));
  assert.deepEqual(printing, [
    'journal 1 printing',
    'journal 1 printed',
    'journal 2 printing',
    'journal 2 printed',
    'journal 3 printing',
    'journal 3 printed',
  ]);
});

test('a job id delivered again is never printed again; its latest ack is re-sent', async (t) => {
  const { steps, printer, link, agent } = startParts(t);
  await agent.start();
  await link.deliver(job(7));
  await until('printed', () => link.acksOf(7).includes('printed'));
  const before = steps.length;
  await link.deliver(job(7, 'a different text under the same id'));
  await until('the ack re-sent', () => steps.length > before + 1);
  assert.deepEqual(
    steps.slice(before).sort(),
    ['PUBACK 7', 'ack 7 printed'],
    'acknowledged, its printed ack re-sent, nothing journaled',
  );
  assert.equal(printer.writes.length, 1);
  assert.doesNotMatch(printer.receipts().join(''), /different/);
});

test('a job number seen before under another uid (a replaced or restored database) is a new job: printed', async (t) => {
  const { printer, link, agent } = startParts(t);
  await agent.start();
  await link.deliver(job(2, 'before the restore'));
  await until('printed', () => link.acksOf(2).includes('printed'));
  await link.deliver({ ...job(2, 'after the restore'), uid: uidOf(2, 1) });
  await until('the second printed ack', () => link.acksOf(2).filter((s) => s === 'printed').length === 2);
  assert.deepEqual(
    printer.receipts().map((r) => /(before|after) the restore/.exec(r)?.[1]),
    ['before', 'after'],
  );
  assert.deepEqual(
    link.acks.filter((a) => a.status === 'printed').map((a) => a.uid),
    [uidOf(2), uidOf(2, 1)],
    'each ack names the job it answers by uid',
  );
});

test('a job without uid (a server of job protocol 1): not printed, not journaled, answered failed naming the server to upgrade', async (t) => {
  const { steps, journal, printer, link, agent } = startParts(t);
  await agent.start();
  const { uid: _uid, ...old } = job(3);
  await link.deliver(old);
  await until('the refusal', () => link.acksOf(3).length > 0);
  assert.deepEqual(link.acksOf(3), ['failed']);
  assert.match(link.acks[0]!.error ?? '', /upgrade the server/);
  assert.equal(link.acks[0]!.uid, undefined);
  assert.equal(journal.size, 0);
  assert.equal(printer.opens, 0);
  assert.deepEqual(steps, ['PUBACK 3', 'ack 3 failed']);
  assert.equal(link.statuses[0]?.protocol, 2, 'the agent says which job protocol it speaks');
});

test('a journal from before job uids: its entry answers only a job created before it was written, then is kept under the uid', async (t) => {
  const printedAt = new Date(Date.now() - 60_000).toISOString();
  const { journal, printer, link, agent } = startParts(t, {
    entries: [
      { key: legacyKey(4), id: 4, state: 'printed', at: printedAt },
      { key: legacyKey(5), id: 5, state: 'received', at: printedAt, job: { ...job(5), uid: undefined } },
    ],
  });
  await agent.start();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(printer.opens, 0, 'an entry without uid is not printed at start-up: it waits for its job');
  assert.equal(link.acks.length, 0, 'nor answered: there is no uid to answer with');
  // The server (upgraded, job 4 still `sent` there) sends job 4 again, now with its uid.
  await link.deliver(job(4, 'printed before the upgrade', new Date(Date.now() - 120_000).toISOString()));
  await until('the printed ack', () => link.acksOf(4).includes('printed'));
  assert.deepEqual(
    link.acks.filter((a) => a.id === 4).map((a) => a.uid),
    [uidOf(4)],
  );
  assert.equal(journal.get(uidOf(4))?.state, 'printed');
  // Job 5 was received, not printed, before the upgrade: printed once its uid is known.
  await link.deliver(job(5, 'waiting since before the upgrade', new Date(Date.now() - 120_000).toISOString()));
  await until('job 5 printed', () => link.acksOf(5).includes('printed'));
  // A restored database makes a new job 4, created after the old entry was written: another job, printed.
  await link.deliver({ ...job(4, 'a new job 4'), uid: uidOf(4, 1) });
  await until('the new job 4 printed', () => link.acks.some((a) => a.uid === uidOf(4, 1) && a.status === 'printed'));
  assert.deepEqual(
    printer.receipts().map((r) => /(waiting since before the upgrade|a new job 4|printed before)/.exec(r)?.[1]),
    ['waiting since before the upgrade', 'a new job 4'],
  );
});

test('a duplicate that arrives while the first copy waits to print is not queued twice', async (t) => {
  const { printer, link, agent } = startParts(t);
  printer.unavailableOpens = 3;
  await agent.start();
  await link.deliver(job(3));
  await link.deliver(job(3));
  await until('printed', () => link.acksOf(3).includes('printed'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(printer.writes.length, 1);
  assert.deepEqual(link.acksOf(3), ['received', 'received', 'printed']);
});

test('a malformed job message is acknowledged and ignored: nothing journaled, nothing printed', async (t) => {
  const { steps, printer, link, agent } = startParts(t);
  await agent.start();
  await link.deliver('{"id": "not a number"');
  await link.deliver(JSON.stringify({ id: -1, content: 'x', createdAt: new Date().toISOString() }));
  assert.deepEqual(steps, ['PUBACK ?', 'PUBACK ?']);
  assert.equal(printer.opens, 0);
});

test('a job older than the journal remembers is not printed: interrupted, for a person to decide', async (t) => {
  const { steps, printer, link, agent } = startParts(t, { config: { journalRetentionDays: 30 } });
  await agent.start();
  await link.deliver(job(4, 'old', new Date(Date.now() - 31 * 24 * 60 * 60 * 1000).toISOString()));
  await until('the interrupted ack', () => link.acksOf(4).length > 0);
  assert.deepEqual(steps, ['journal 4 interrupted', 'PUBACK 4', 'ack 4 interrupted']);
  assert.match(link.acks[0]!.error ?? '', /retention/);
  assert.equal(printer.opens, 0);
});

test('at start-up: printing becomes interrupted (never reprinted), received is printed, unconfirmed final acks are sent again', async (t) => {
  const at = new Date(Date.now() - 60_000).toISOString();
  const { steps, journal, printer, link, agent } = startParts(t, {
    entries: [
      { key: uidOf(1), id: 1, state: 'printing', at, job: job(1, 'was printing'), acked: 'received' },
      { key: uidOf(2), id: 2, state: 'received', at, job: job(2, 'was waiting'), acked: 'received' },
      { key: uidOf(3), id: 3, state: 'printed', at, acked: 'received' },
      { key: uidOf(4), id: 4, state: 'failed', at, error: 'no printer', acked: 'failed' },
    ],
  });
  await agent.start();
  assert.equal(journal.get(uidOf(1))?.state, 'interrupted');
  assert.match(journal.get(uidOf(1))?.error ?? '', /partly printed/);
  link.connect();
  await until(
    'job 2 printed and acks sent',
    () => link.acksOf(2).includes('printed') && link.acksOf(1).length > 0 && link.acksOf(3).length > 0,
  );
  assert.deepEqual(printer.receipts().length, 1);
  assert.match(printer.receipts()[0]!, /was waiting/);
  assert.deepEqual(link.acksOf(1), ['interrupted']);
  assert.deepEqual(link.acksOf(3), ['printed']);
  assert.deepEqual(link.acksOf(4), [], 'a final ack the broker confirmed is not sent again');
  assert.ok(
    steps.indexOf('journal 1 interrupted') < steps.indexOf('journal 2 printing'),
    'recovery comes before printing',
  );
});

test('acks the broker did not confirm are sent again on the next connect, once', async (t) => {
  const { journal, printer, link, agent } = startParts(t);
  await agent.start();
  link.connected = false;
  await link.deliver(job(5));
  await until('printed', () => journal.get(uidOf(5))?.state === 'printed');
  assert.equal(printer.writes.length, 1);
  assert.deepEqual(link.acks, []);
  assert.equal(journal.get(uidOf(5))?.acked, undefined);
  link.connect();
  await until('the final ack', () => link.acksOf(5).length > 0);
  assert.deepEqual(link.acksOf(5), ['printed'], 'the latest ack, not the superseded received one');
  assert.equal(journal.get(uidOf(5))?.acked, 'printed');
  link.connect();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(link.acksOf(5), ['printed'], 'a confirmed ack is not sent again');
});

test('an unavailable printer: the job waits and retries (status unavailable), then prints; nothing is journaled printing before it opens', async (t) => {
  const { steps, printer, link, agent } = startParts(t);
  printer.unavailableOpens = 3;
  await agent.start();
  await link.deliver(job(6));
  await until('printed', () => link.acksOf(6).includes('printed'));
  assert.equal(printer.opens, 4);
  assert.deepEqual(steps.slice(steps.indexOf('ack 6 received') + 1), [
    'printer absent',
    'printer absent',
    'printer absent',
    'printer open',
    'journal 6 printing',
    'bytes',
    'printer close',
    'journal 6 printed',
    'ack 6 printed',
  ]);
  const conditions = link.statuses.map((s) => s.printer);
  assert.deepEqual(conditions, ['ok', 'unavailable', 'ok']);
  assert.match(link.statuses[1]!.detail ?? '', /no printer at memory:test/);
});

test('a printer unavailable for longer than PRINTER_RETRY_LIMIT_MS: the job is failed, nothing sent, no printing step', async (t) => {
  const { steps, printer, link, agent } = startParts(t, { config: { printerRetryLimitMs: 30 } });
  printer.unavailableOpens = Infinity;
  await agent.start();
  await link.deliver(job(8));
  await until('the failed ack', () => link.acksOf(8).includes('failed'));
  assert.ok(!steps.includes('journal 8 printing'));
  assert.equal(printer.writes.length, 0);
  assert.match(link.acks.find((a) => a.status === 'failed')?.error ?? '', /no printer/);
});

test('a write that fails once printing started: interrupted (may be partly printed), never retried', async (t) => {
  const { steps, journal, printer, link, agent } = startParts(t);
  printer.failNextWrite = new Error('EPIPE');
  await agent.start();
  await link.deliver(job(9));
  await until('the interrupted ack', () => link.acksOf(9).includes('interrupted'));
  assert.deepEqual(steps.slice(steps.indexOf('ack 9 received') + 1), [
    'printer open',
    'journal 9 printing',
    'bytes failed',
    'printer close',
    'journal 9 interrupted',
    'ack 9 interrupted',
  ]);
  assert.match(journal.get(uidOf(9))?.error ?? '', /partly printed.*EPIPE/);
  await link.deliver(job(9));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(printer.opens, 1, 'not reprinted on a duplicate delivery');
});

test('paper out: the job waits, however long, and prints once the paper is back', async (t) => {
  const { steps, printer, link, agent } = startParts(t, {
    answersStatus: true,
    config: { printerStatusIntervalMs: 5 },
  });
  printer.condition = 'paper-out';
  await agent.start();
  await link.deliver(job(10));
  await until('a few status checks while it waits', () => printer.statusQueries > 5);
  assert.equal(printer.opens, 0);
  assert.ok(!steps.includes('journal 10 printing'));
  assert.ok(link.statuses.some((s) => s.printer === 'paper-out'));
  printer.condition = 'ok';
  await until('printed', () => link.acksOf(10).includes('printed'));
  assert.equal(printer.writes.length, 1);
  assert.equal(link.statuses.at(-1)?.printer, 'ok');
});

test('stopping while a job waits for paper leaves it received, to be printed after the next start', async (t) => {
  const { journal, printer, link, agent } = startParts(t, {
    answersStatus: true,
    config: { printerStatusIntervalMs: 5 },
  });
  printer.condition = 'cover-open';
  await agent.start();
  await link.deliver(job(11));
  await until('a status check', () => printer.statusQueries > 1);
  await agent.stop();
  assert.equal(journal.get(uidOf(11))?.state, 'received');
  assert.equal(printer.opens, 0);
});

// ---------- a burst on a printer that holds its connection open (the virtual printer, a file) ----------

/** Each job's latest durable state after the first `count` steps: what a journal replayed after a crash there holds. */
function durableStates(steps: string[], count: number): Map<number, string> {
  const states = new Map<number, string>();
  for (const step of steps.slice(0, count)) {
    const m = /^journal (\d+) (\w+)$/.exec(step);
    if (m) states.set(Number(m[1]), m[2]!);
  }
  return states;
}

test('a burst on a printer that holds its connection: opened once, job k `printed` and job k+1 `printing` in one sync, closed when idle', async (t) => {
  const time = fakeTime(t, { untilMs: 2000 }); // as until()
  const { steps, journal, printer, link, agent } = startParts(t, { holdsOpen: true });
  printer.writeDelayMs = 5; // the next jobs arrive while the first is being written
  await agent.start();
  await Promise.all([1, 2, 3, 4].map((id) => link.deliver(job(id))));
  await time.until('four printed acks', () => link.acks.filter((a) => a.status === 'printed').length === 4);
  assert.equal(printer.opens, 1, 'one connection for the burst');
  assert.deepEqual(
    printer.receipts().map((r) => /receipt (\d)/.exec(r)?.[1]),
    ['1', '2', '3', '4'],
  );
  const together = journal.syncs.filter((sync) => sync.some((line) => / printed$/.test(line)));
  assert.deepEqual(together, [
    ['1 printed', '2 printing'],
    ['2 printed', '3 printing'],
    ['3 printed', '4 printing'],
    ['4 printed'],
  ]);
  // Each job's bytes go out only after its own `printing` is durable, and its printed ack only after its `printed`.
  for (const id of [1, 2, 3, 4]) {
    const bytesAt =
      steps.filter((s) => s === 'bytes').length >= id
        ? steps.indexOf('bytes', id === 1 ? 0 : indexOfNth(steps, 'bytes', id - 1) + 1)
        : -1;
    assert.ok(steps.indexOf(`journal ${id} printing`) < bytesAt, `job ${id}: printing journaled before its bytes`);
    assert.ok(
      steps.indexOf(`journal ${id} printed`) < steps.indexOf(`ack ${id} printed`),
      `job ${id}: printed journaled before its ack`,
    );
  }
  assert.equal(printer.closes, 0, 'still open right after the burst');
  await time.until('the idle close', () => printer.closes === 1, PRINTER_IDLE_CLOSE_MS * 10);
  await link.deliver(job(5));
  await time.until('job 5 printed', () => link.acksOf(5).includes('printed'));
  assert.equal(printer.opens, 2, 'reopened for the next job after the idle close');
});

// The server takes each `online` status as a possible reconnection and sends every unfinished job again (the
// dispatcher's re-publication): a status every 2 s during a backlog made a catch-up four deliveries a job.
test('the status after jobs waits while jobs are waiting to print, and goes out when none is left', async (t) => {
  const time = fakeTime(t, { untilMs: 60_000 });
  const { printer, link, agent } = startParts(t, { holdsOpen: true });
  printer.writeDelayMs = 1000; // six jobs: six seconds of printing, three times STATUS_AFTER_JOB_MS
  await agent.start();
  const started = Date.now();
  await Promise.all([1, 2, 3, 4, 5, 6].map((id) => link.deliver(job(id))));
  const withLastJob = () => link.statuses.filter((s) => s.lastJob);
  await time.until('job 5 printed', () => link.acksOf(5).includes('printed'), 60_000, 50);
  assert.ok(Date.now() - started > 2 * STATUS_AFTER_JOB_MS, 'the backlog outlasted two status periods');
  assert.deepEqual(withLastJob(), [], 'no status while jobs wait');
  await time.until('the status after the backlog', () => withLastJob().length > 0, 60_000, 50);
  assert.ok(link.acksOf(6).includes('printed'));
  assert.deepEqual(
    withLastJob().map((s) => s.lastJob?.id),
    [6],
    'one status, once nothing is left to print, naming the last job',
  );
});

test('a backlog longer than STATUS_DURING_BACKLOG_MS still gets a status after jobs that often', async (t) => {
  const time = fakeTime(t, { untilMs: 10 * STATUS_DURING_BACKLOG_MS });
  const { printer, link, agent } = startParts(t, { holdsOpen: true });
  printer.writeDelayMs = STATUS_DURING_BACKLOG_MS / 4;
  await agent.start();
  const ids = [1, 2, 3, 4, 5, 6, 7, 8];
  await Promise.all(ids.map((id) => link.deliver(job(id))));
  await time.until(
    'a status during the backlog',
    () => link.statuses.some((s) => s.lastJob),
    10 * STATUS_DURING_BACKLOG_MS,
    500,
  );
  assert.ok(!link.acksOf(8).includes('printed'), 'while jobs still wait');
  await time.until('the backlog printed', () => link.acksOf(8).includes('printed'), 10 * STATUS_DURING_BACKLOG_MS, 500);
});

function indexOfNth(steps: string[], step: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) at = steps.indexOf(step, at + 1);
  return at;
}

test('a burst: a crash at any step leaves at most one job `printing` (interrupted), and none whose bytes were not all sent is `printed`', async (t) => {
  const { steps, printer, link, agent } = startParts(t, { holdsOpen: true });
  printer.writeDelayMs = 5;
  await agent.start();
  await Promise.all([1, 2, 3, 4, 5, 6].map((id) => link.deliver(job(id))));
  await until('six printed acks', () => link.acks.filter((a) => a.status === 'printed').length === 6);
  for (let crashAt = 0; crashAt <= steps.length; crashAt++) {
    const states = durableStates(steps, crashAt);
    const printing = [...states].filter(([, state]) => state === 'printing').map(([id]) => id);
    assert.ok(
      printing.length <= 1,
      `a crash after step ${crashAt} (${steps[crashAt - 1]}) leaves ${printing.join(', ')} printing`,
    );
    const bytesSent = steps.slice(0, crashAt).filter((s) => s === 'bytes').length;
    for (const [id, state] of states) {
      if (state === 'printed') assert.ok(id <= bytesSent, `job ${id} printed before its bytes were written`);
    }
  }
});

test('a write error on a held connection: only the job being written is interrupted; the next prints on a new connection', async (t) => {
  const { printer, link, agent } = startParts(t, { holdsOpen: true });
  printer.writeDelayMs = 5;
  await agent.start();
  await link.deliver(job(1));
  await until('job 1 printed', () => link.acksOf(1).includes('printed'));
  printer.failNextWrite = new Error('EIO');
  await Promise.all([2, 3].map((id) => link.deliver(job(id))));
  await until('2 and 3 final', () => link.acksOf(2).length > 1 && link.acksOf(3).includes('printed'));
  assert.deepEqual(link.acksOf(2), ['received', 'interrupted']);
  assert.deepEqual(link.acksOf(3), ['received', 'printed']);
  assert.equal(printer.opens, 2, 'the failed connection is not used again');
});

test('stopping during a burst: the job already journaled `printing` with the last `printed` is printed; the rest stay received', async (t) => {
  const { journal, printer, link, agent } = startParts(t, { holdsOpen: true });
  printer.writeDelayMs = 5;
  await agent.start();
  await Promise.all([1, 2, 3, 4, 5].map((id) => link.deliver(job(id))));
  await until('job 1 printed', () => link.acksOf(1).includes('printed'));
  await agent.stop();
  const states = journal.all().map((e) => e.state);
  assert.ok(!states.includes('printing'), `no job left printing after a clean stop: ${states.join(', ')}`);
  assert.ok(states.includes('received'), 'later jobs wait for the next start');
  assert.equal(printer.closes, printer.opens, 'the connection is closed by stop()');
});

test('property: jobs of several databases (the same numbers again), each delivered any number of times in any order: each uid on paper once, every ack names it', async (t) => {
  // A job of database d numbered n; its content names both, so the paper says which job it is.
  const delivery = fc.record({ database: fc.integer({ min: 0, max: 2 }), id: fc.integer({ min: 1, max: 4 }) });
  await fc.assert(
    fc.asyncProperty(fc.array(delivery, { minLength: 1, maxLength: 25 }), async (deliveries) => {
      const { printer, link, agent } = startParts(t);
      await agent.start();
      for (const { database, id } of deliveries)
        await link.deliver({ ...job(id, `db ${database} job ${id}`), uid: uidOf(id, database) });
      const distinct = new Set(deliveries.map((d) => uidOf(d.id, d.database)));
      await until(
        'every job printed',
        () => new Set(link.acks.filter((a) => a.status === 'printed').map((a) => a.uid)).size === distinct.size,
      );
      await agent.stop();
      const onPaper = printer.receipts().map((r) => /db \d job \d/.exec(r)?.[0]);
      assert.equal(onPaper.length, distinct.size, 'each job once, none twice, none skipped');
      assert.equal(new Set(onPaper).size, distinct.size);
      for (const ack of link.acks) assert.equal(ack.uid?.endsWith(String(ack.id).padStart(12, '0')), true);
    }),
    // The unit suite: 20 agents, each given 1 to 25 deliveries of 12 possible jobs.
    { numRuns: propertyRuns({ full: 60, quick: 20 }) },
  );
});

const diskFull = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
const receiptIds = (printer: MemoryPrinter) => printer.receipts().map((r) => Number(/receipt (\d+)/.exec(r)?.[1]));

test('a full disk: jobs wait unacknowledged, the status says why; once it can write, each is taken and printed once, in order', async (t) => {
  const time = fakeTime(t, { untilMs: 2000 }); // as until()
  const { steps, journal, printer, link, agent } = startParts(t);
  await agent.start();
  journal.failWith = diskFull();
  const delivered = [1, 2, 3, 4, 5].map((id) => link.deliver(job(id)));
  // The broker delivers a waiting job again (the server's watchdog): it joins the one waiting, never a second.
  delivered.push(link.deliver(job(3)));
  await time.until('a degraded status', () => link.statuses.at(-1)?.health === 'degraded');
  await time.until('all five waiting', () => link.statuses.at(-1)?.fault?.waiting === 5);
  const status = link.statuses.at(-1)!;
  assert.equal(status.fault?.code, 'disk-full');
  assert.match(status.fault?.detail ?? '', /disk is full \(ENOSPC\)/);
  assert.ok(!Number.isNaN(Date.parse(status.fault?.since ?? '')), 'since when');
  await time.advance(300); // a few retries, all failing
  assert.ok(!steps.some((s) => s.startsWith('PUBACK')), 'no PUBACK for a job not in the journal');
  assert.equal(printer.writes.length, 0, 'nothing printed without its journal line');
  assert.equal(journal.size, 0, 'a failed write leaves nothing the journal would take for seen');

  journal.failWith = null;
  let taken = false;
  void Promise.all(delivered).then(() => (taken = true));
  await time.until('every delivery taken', () => taken, 60_000); // awaited without a bound before
  await time.until('five printed acks', () => link.acks.filter((a) => a.status === 'printed').length === 5);
  assert.deepEqual(receiptIds(printer), [1, 2, 3, 4, 5], 'each once, in the order they came');
  await time.until('the status back to ok', () => link.statuses.at(-1)?.health === 'ok');
  assert.equal(link.statuses.at(-1)?.fault, undefined, 'the fault cleared by itself');
});

test('the disk fills between a job taken and printed: it waits, nothing printed twice, and goes on when it can', async (t) => {
  const time = fakeTime(t, { untilMs: 2000 }); // as until()
  const { steps, journal, printer, link, agent } = startParts(t);
  await agent.start();
  await link.deliver(job(1)); // taken: its `received` is on disk
  journal.failWith = diskFull(); // its `printing` line is what fails
  await time.until('degraded', () => link.statuses.at(-1)?.health === 'degraded');
  await time.advance(200);
  assert.equal(printer.writes.length, 0, 'no byte before its `printing` line is on disk');
  journal.failWith = null;
  await time.until('job 1 printed', () => link.acksOf(1).includes('printed'));
  assert.deepEqual(receiptIds(printer), [1]);
  assert.ok(steps.includes('journal 1 printing failed'));
  await time.until('ok again', () => link.statuses.at(-1)?.health === 'ok');
});

test('the `printed` line fails after the bytes went out: recorded when it can, never printed again', async (t) => {
  const time = fakeTime(t, { untilMs: 2000 }); // as until()
  const { steps, journal, printer, link, agent } = startParts(t);
  await agent.start();
  const original = journal.record.bind(journal);
  let failPrinted = true;
  journal.record = (key, id, state, extra) => {
    if (state === 'printed' && failPrinted) {
      setTimeout(() => (failPrinted = false), 250);
      journal.failWith = diskFull();
      return original(key, id, state, extra).finally(() => (journal.failWith = null));
    }
    return original(key, id, state, extra);
  };
  await link.deliver(job(1));
  await time.until('job 1 printed', () => link.acksOf(1).includes('printed'));
  assert.equal(printer.writes.length, 1, 'on paper once');
  assert.ok(steps.includes('journal 1 printed failed'), 'the first `printed` write failed');
  assert.equal(journal.get(uidOf(1))?.state, 'printed');
});

test('a printer that takes no bytes (the write times out): the job is interrupted and the status says so until a write goes through', async (t) => {
  const { printer, link, agent } = startParts(t);
  await agent.start();
  printer.failNextWrite = new Error('writing to memory:test timed out after 10000 ms');
  await link.deliver(job(1));
  await until('job 1 interrupted', () => link.acksOf(1).includes('interrupted'));
  await until('degraded', () => link.statuses.at(-1)?.fault?.code === 'printer-stalled');
  assert.match(link.statuses.at(-1)!.fault!.detail, /takes no more data/);
  await link.deliver(job(2));
  await until('job 2 printed', () => link.acksOf(2).includes('printed'));
  await until('ok again', () => link.statuses.at(-1)?.health === 'ok');
});

/** Delivers `next` in the turn after the printed ack of `after` (the worker has just finished, the connection is held open). */
function deliverAfterPrinted(link: FakeLink, after: number, next: () => void): void {
  const publish = link.publishAck.bind(link);
  link.publishAck = (ack) => {
    const sent = publish(ack);
    if (ack.id === after && ack.status === 'printed') setImmediate(next);
    return sent;
  };
}

test('a job alone on a connection held open: `received` and `printing` in one sync, its bytes after it, `printed` in the next', async (t) => {
  const { steps, journal, printer, link, agent } = startParts(t, { holdsOpen: true });
  await agent.start();
  let second: Promise<void> | null = null;
  deliverAfterPrinted(link, 1, () => (second = link.deliver(job(2))));
  await link.deliver(job(1));
  await until('job 2 printed', () => link.acksOf(2).includes('printed'));
  await second;
  assert.equal(printer.opens, 1, 'job 2 went on the connection job 1 opened');
  const ofJob = (id: number) => journal.syncs.filter((sync) => sync.some((line) => line.startsWith(`${id} `)));
  assert.deepEqual(ofJob(2), [['2 received', '2 printing'], ['2 printed']], 'two syncs for job 2, not three');
  assert.deepEqual(ofJob(1), [['1 received'], ['1 printing'], ['1 printed']], 'job 1 had to open the printer first');
  const after = steps.slice(steps.indexOf('journal 2 printing'));
  assert.ok(after.indexOf('ack 2 received') > 0, 'its received ack once both lines are durable');
  assert.ok(after.indexOf('bytes') > 0 && after.indexOf('bytes') < after.indexOf('journal 2 printed'));
  assert.deepEqual(link.acksOf(2), ['received', 'printed']);
  assert.deepEqual(
    printer.receipts().map((r) => /receipt (\d)/.exec(r)?.[1]),
    ['1', '2'],
  );
});

test('a clean stop while a job alone is being taken straight to `printing`: it is printed, never left `printing`', async (t) => {
  const { journal, printer, link, agent } = startParts(t, { holdsOpen: true });
  await agent.start();
  let stopped: Promise<void> | null = null;
  const record = journal.record.bind(journal);
  journal.record = (key, id, state, extra) => {
    const written = record(key, id, state, extra);
    // Job 2 is taken straight to `printing`: the agent is stopped before its lines are durable.
    if (id === 2 && state === 'printing' && !stopped) stopped = agent.stop();
    return written;
  };
  deliverAfterPrinted(link, 1, () => void link.deliver(job(2)));
  await link.deliver(job(1));
  await until('stop called', () => stopped !== null);
  await stopped;
  assert.equal(journal.get(uidOf(2))?.state, 'printed', `job 2 is ${journal.get(uidOf(2))?.state}`);
  assert.deepEqual(
    printer.receipts().map((r) => /receipt (\d)/.exec(r)?.[1]),
    ['1', '2'],
  );
  assert.equal(printer.closes, printer.opens, 'the connection is closed by stop()');
});

test('a job arriving while earlier ones are taken but not yet queued waits its turn: all print, in order', async (t) => {
  const { journal, printer, link, agent } = startParts(t, { holdsOpen: true });
  await agent.start();
  let later: Promise<void> | null = null;
  deliverAfterPrinted(link, 1, () => {
    later = (async () => {
      // Two in one turn: neither is taken straight to `printing`; once both are taken (their queuing is
      // still a turn away), job 4 arrives with the printer idle and nothing queued yet.
      await Promise.all([link.deliver(job(2)), link.deliver(job(3))]);
      await link.deliver(job(4));
    })();
  });
  await link.deliver(job(1));
  await until('job 4 final', () => link.acksOf(4).length > 1);
  await later;
  await until('jobs 2 and 3 final', () => link.acksOf(2).length > 1 && link.acksOf(3).length > 1);
  assert.deepEqual(
    [1, 2, 3, 4].map((id) => journal.get(uidOf(id))?.state),
    ['printed', 'printed', 'printed', 'printed'],
  );
  assert.deepEqual(
    printer.receipts().map((r) => /receipt (\d)/.exec(r)?.[1]),
    ['1', '2', '3', '4'],
  );
});
