/**
 * The agent's exactly-once rules (DESIGN.md, "Exactly once on paper"), with the journal, the link and the
 * printer in memory: no broker, no file, no socket.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import pino from 'pino';
import type { JournalEntry } from '../agent/journal';
import { PrintAgent } from '../agent/print-agent';
import { type AgentConfig, loadAgentConfig } from '../config';
import type { JobMessage } from '../protocol/messages';
import { FakeLink } from './support/fake-link';
import { MemoryJournal } from './support/memory-journal';
import { MemoryPrinter } from './support/memory-printer';

const job = (id: number, content = `receipt ${id}`, createdAt = new Date().toISOString()): JobMessage => ({ id, content, createdAt });

function startParts(t: TestContext, options: { entries?: JournalEntry[]; answersStatus?: boolean; config?: Partial<AgentConfig> } = {}) {
  const steps: string[] = [];
  const journal = new MemoryJournal(steps, options.entries);
  const printer = new MemoryPrinter(steps, { answersStatus: options.answersStatus });
  const link = new FakeLink(steps);
  const config = loadAgentConfig({}, { printerRetryMinMs: 2, printerRetryMaxMs: 10, printerStatusIntervalMs: 0, ...options.config });
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
  assert.deepEqual(steps, ['journal 1 received', 'PUBACK 1', 'ack 1 received', 'printer open', 'journal 1 printing', 'bytes', 'journal 1 printed', 'ack 1 printed']);
  assert.match(printer.receipts().join(''), /Hello world/);
  assert.equal(journal.get(1)?.acked, 'printed');
  assert.equal(journal.get(1)?.job, undefined, 'a final entry forgets the content');
});

test('jobs are printed one at a time, in the order they arrived', async (t) => {
  const { steps, printer, link, agent } = startParts(t);
  await agent.start();
  for (const id of [1, 2, 3]) await link.deliver(job(id));
  await until('three printed acks', () => link.acks.filter((a) => a.status === 'printed').length === 3);
  assert.deepEqual(printer.receipts().map((r) => /receipt (\d)/.exec(r)?.[1]), ['1', '2', '3']);
  const printing = steps.filter((s) => /^journal \d (printing|printed)$/.test(s));
  assert.deepEqual(printing, ['journal 1 printing', 'journal 1 printed', 'journal 2 printing', 'journal 2 printed', 'journal 3 printing', 'journal 3 printed']);
});

test('a job id delivered again is never printed again; its latest ack is re-sent', async (t) => {
  const { steps, printer, link, agent } = startParts(t);
  await agent.start();
  await link.deliver(job(7));
  await until('printed', () => link.acksOf(7).includes('printed'));
  const before = steps.length;
  await link.deliver(job(7, 'a different text under the same id'));
  await until('the ack re-sent', () => steps.length > before + 1);
  assert.deepEqual(steps.slice(before).sort(), ['PUBACK 7', 'ack 7 printed'], 'acknowledged, its printed ack re-sent, nothing journaled');
  assert.equal(printer.writes.length, 1);
  assert.doesNotMatch(printer.receipts().join(''), /different/);
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
      { id: 1, state: 'printing', at, job: job(1, 'was printing'), acked: 'received' },
      { id: 2, state: 'received', at, job: job(2, 'was waiting'), acked: 'received' },
      { id: 3, state: 'printed', at, acked: 'received' },
      { id: 4, state: 'failed', at, error: 'no printer', acked: 'failed' },
    ],
  });
  await agent.start();
  assert.equal(journal.get(1)?.state, 'interrupted');
  assert.match(journal.get(1)?.error ?? '', /partly printed/);
  link.connect();
  await until('job 2 printed and acks sent', () => link.acksOf(2).includes('printed') && link.acksOf(1).length > 0 && link.acksOf(3).length > 0);
  assert.deepEqual(printer.receipts().length, 1);
  assert.match(printer.receipts()[0]!, /was waiting/);
  assert.deepEqual(link.acksOf(1), ['interrupted']);
  assert.deepEqual(link.acksOf(3), ['printed']);
  assert.deepEqual(link.acksOf(4), [], 'a final ack the broker confirmed is not sent again');
  assert.ok(steps.indexOf('journal 1 interrupted') < steps.indexOf('journal 2 printing'), 'recovery comes before printing');
});

test('acks the broker did not confirm are sent again on the next connect, once', async (t) => {
  const { journal, printer, link, agent } = startParts(t);
  await agent.start();
  link.connected = false;
  await link.deliver(job(5));
  await until('printed', () => journal.get(5)?.state === 'printed');
  assert.equal(printer.writes.length, 1);
  assert.deepEqual(link.acks, []);
  assert.equal(journal.get(5)?.acked, undefined);
  link.connect();
  await until('the final ack', () => link.acksOf(5).length > 0);
  assert.deepEqual(link.acksOf(5), ['printed'], 'the latest ack, not the superseded received one');
  assert.equal(journal.get(5)?.acked, 'printed');
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
  assert.deepEqual(steps.slice(steps.indexOf('ack 6 received') + 1), ['printer absent', 'printer absent', 'printer absent', 'printer open', 'journal 6 printing', 'bytes', 'journal 6 printed', 'ack 6 printed']);
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
  assert.deepEqual(steps.slice(steps.indexOf('ack 9 received') + 1), ['printer open', 'journal 9 printing', 'bytes failed', 'journal 9 interrupted', 'ack 9 interrupted']);
  assert.match(journal.get(9)?.error ?? '', /partly printed.*EPIPE/);
  await link.deliver(job(9));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(printer.opens, 1, 'not reprinted on a duplicate delivery');
});

test('paper out: the job waits, however long, and prints once the paper is back', async (t) => {
  const { steps, printer, link, agent } = startParts(t, { answersStatus: true, config: { printerStatusIntervalMs: 5 } });
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
  const { journal, printer, link, agent } = startParts(t, { answersStatus: true, config: { printerStatusIntervalMs: 5 } });
  printer.condition = 'cover-open';
  await agent.start();
  await link.deliver(job(11));
  await until('a status check', () => printer.statusQueries > 1);
  await agent.stop();
  assert.equal(journal.get(11)?.state, 'received');
  assert.equal(printer.opens, 0);
});
