/**
 * The journal's background syncs (issue 22, catch-up): while a long backlog prints, a durable write's
 * fdatasync runs on libuv's thread pool. The rules stay those of DESIGN.md, "Exactly once": a line's
 * promise resolves only once the sync that covers it finished, no byte of a job reaches the printer before
 * its `printing` line is on disk, and a crash leaves at most one job interrupted. A real journal file, the
 * print agent, and the link and printer in memory; `fs.fdatasync` is held by the test to open the window.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import pino from 'pino';
import { Journal } from '../../agent/journal';
import { BACKGROUND_SYNC_BACKLOG, PrintAgent } from '../../agent/print-agent';
import { loadAgentConfig } from '../../config';
import type { JobMessage } from '../../protocol/messages';
import { tempDir, testLogger, waitFor } from '../support/basics';
import { FakeLink } from '../support/fake-link';
import { uidOf } from '../support/job-uids';
import { MemoryPrinter } from '../support/memory-printer';

const DAY = 86_400_000;
const realFdatasync = fs.fdatasync;

const job = (id: number): JobMessage => ({
  id,
  uid: uidOf(id),
  content: `receipt ${id}`,
  createdAt: new Date().toISOString(),
});

const realFdatasyncSync = fs.fdatasyncSync;

/**
 * fs.fdatasync held until the test releases it (with an error: failed as a disk error would fail it).
 * `durable` is what the file held at the start of the last sync that ended, on the pool or on the thread.
 */
function holdSyncs(t: TestContext, file: () => string) {
  const held: Array<(err?: NodeJS.ErrnoException) => void> = [];
  let calls = 0;
  const state = { durable: '' };
  t.mock.method(fs, 'fdatasync', (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    calls++;
    const content = fs.readFileSync(file(), 'utf8');
    held.push((err) =>
      err
        ? setImmediate(() => cb(err))
        : realFdatasync(fd, (e) => {
            if (!e) state.durable = content;
            cb(e);
          }),
    );
  });
  t.mock.method(fs, 'fdatasyncSync', (fd: number) => {
    realFdatasyncSync(fd);
    state.durable = fs.readFileSync(file(), 'utf8');
  });
  return {
    held,
    state,
    get calls() {
      return calls;
    },
    release(err?: NodeJS.ErrnoException) {
      const next = held.shift();
      assert.ok(next, 'a sync is under way');
      next(err);
    },
  };
}

const settled = (p: Promise<unknown>) => {
  const state = { done: false };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
};
const turn = () => new Promise((resolve) => setImmediate(resolve));

test('a background sync: a line is durable only when the pool sync ends; lines recorded meanwhile wait, then go together', async (t) => {
  const dir = path.join(tempDir(t), 'agent');
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  const syncs = holdSyncs(t, () => journal.path);
  const writes = t.mock.method(fs, 'writeSync');
  const syncsOnThread = fs.fdatasyncSync as unknown as { mock: { callCount(): number } };
  journal.syncInBackground(true);

  const first = journal.record(uidOf(1), 1, 'received', { job: job(1) });
  const firstState = settled(first);
  await waitFor('the first sync on the pool', () => syncs.held.length === 1);
  assert.equal(writes.mock.callCount(), 1, 'the line is written before its sync');
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(firstState.done, false, 'not resolved before its sync ends');

  // Recorded while the sync runs: not written yet (a failed sync cuts the file back to its last whole line).
  const second = journal.record(uidOf(2), 2, 'received', { job: job(2) });
  const third = journal.record(uidOf(3), 3, 'received', { job: job(3) });
  journal.confirmAck(uidOf(1), 'received');
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(writes.mock.callCount(), 1, 'nothing written while a sync runs');

  syncs.release();
  await first;
  await waitFor('the second sync', () => syncs.held.length === 1);
  assert.equal(writes.mock.callCount(), 2, 'what came meanwhile goes in one write');
  syncs.release();
  await Promise.all([second, third]);
  assert.equal(syncs.calls, 2);
  assert.equal(syncsOnThread.mock.callCount(), 0, 'no sync on the thread in the background mode');

  // A sync that fails: the lines it covered are not known, and the file is cut back to its last whole line.
  const before = fs.statSync(journal.path).size;
  const failing = journal.record(uidOf(4), 4, 'received', { job: job(4) });
  await waitFor('the failing sync', () => syncs.held.length === 1);
  syncs.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
  await assert.rejects(failing, { code: 'EIO' });
  assert.equal(journal.get(uidOf(4)), undefined, 'not on disk, so not known');
  assert.equal(fs.statSync(journal.path).size, before, 'cut back to the last whole line');

  // Back on the thread: a sync of its own, as before.
  journal.syncInBackground(false);
  await journal.record(uidOf(5), 5, 'received', { job: job(5) });
  assert.equal(syncsOnThread.mock.callCount(), 1);
  await journal.stop();

  const again = new Journal(dir, 30 * DAY, testLogger());
  await again.start();
  assert.deepEqual(
    again.all().map((e) => [e.id, e.state, e.acked ?? null]),
    [
      [1, 'received', 'received'],
      [2, 'received', null],
      [3, 'received', null],
      [5, 'received', null],
    ],
  );
  await again.stop();
});

test('a backlog printed with background syncs: no byte of a job before its printing line is on disk, and a crash at any sync interrupts at most one job', async (t) => {
  const root = tempDir(t);
  const dir = path.join(root, 'agent');
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  const syncs = holdSyncs(t, () => journal.path);
  const printer = new MemoryPrinter([], { holdsOpen: true });
  const link = new FakeLink();
  const config = loadAgentConfig({}, { printerRetryMinMs: 2, printerRetryMaxMs: 10, printerStatusIntervalMs: 0 });
  const agent = new PrintAgent(config, journal, printer, link, pino({ level: 'silent' }));
  await agent.start();

  const count = BACKGROUND_SYNC_BACKLOG + 40;
  // Delivered together, as the server's window of a catch-up arrives: a backlog behind the first job.
  const delivered = Promise.all(Array.from({ length: count }, (_, i) => link.deliver(job(i + 1))));
  let crashes = 0;
  const printedIds = () => printer.receipts().map((r) => Number(/receipt (\d+)/.exec(r)![1]));
  const checkBytesFollowDurableLines = () => {
    for (const id of printedIds())
      assert.match(
        syncs.state.durable,
        new RegExp(`"uid":"${uidOf(id)}","id":${id},"state":"printing"`),
        `job ${id} printed before its printing line was on disk`,
      );
  };
  while (!link.acksOf(count).includes('printed')) {
    if (syncs.held.length === 0) {
      await turn();
      continue;
    }
    // A sync is under way: give a wrong agent a few turns to write bytes it may not write yet.
    for (let i = 0; i < 3; i++) await turn();
    checkBytesFollowDurableLines();
    // A crash now: whether the unsynced write survives or not, a restart finds at most one job printing.
    for (const text of [syncs.state.durable, fs.readFileSync(journal.path, 'utf8')])
      assert.ok(
        [...replayStates(text).values()].filter((s) => s === 'printing').length <= 1,
        'at most one job printing at a crash',
      );
    crashes++;
    syncs.release();
  }
  checkBytesFollowDurableLines();
  await delivered;
  assert.ok(crashes >= 30, `the backlog used background syncs (${crashes})`);
  assert.deepEqual(
    printedIds(),
    Array.from({ length: count }, (_, i) => i + 1),
    'every job printed once, in order',
  );
  await agent.stop();
  await journal.stop();
});

/** The state each job's last line gives it, as the journal's replay reads the file. */
function replayStates(text: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let record: { uid?: string; state?: string };
    try {
      record = JSON.parse(line) as { uid?: string; state?: string };
    } catch {
      continue;
    }
    if (record.uid && record.state) states.set(record.uid, record.state);
  }
  return states;
}
