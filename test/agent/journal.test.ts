import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { Journal, JOURNAL_PREALLOCATE_BYTES, legacyKey } from '../../agent/journal';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { topics } from '../../protocol/topics';
import { uidOf } from '../support/job-uids';
import {
  captureLogger,
  connectClient,
  defer,
  getJson,
  postJson,
  startTestAgent,
  startTestServer,
  tempDir,
  testLogger,
  waitFor,
} from '../support/harness';

const DAY = 86_400_000;

test('the journal survives a restart, skips a line torn by a crash, and compacts old confirmed entries', async (t) => {
  const dir = tempDir(t);
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  const job = { id: 1, uid: uidOf(1), content: 'x', createdAt: new Date().toISOString() };
  await journal.record(uidOf(1), 1, 'received', { job });
  await journal.record(uidOf(1), 1, 'printing');
  await journal.record(uidOf(1), 1, 'printed');
  journal.confirmAck(uidOf(1), 'printed');
  await journal.record(uidOf(2), 2, 'received', { job: { ...job, id: 2, uid: uidOf(2) } });
  await journal.stop();
  fs.appendFileSync(journal.path, `{"uid":"${uidOf(3)}","id":3,"state":"rece`); // torn write

  const again = new Journal(dir, 30 * DAY, testLogger());
  await again.start();
  assert.equal(again.get(uidOf(1))?.state, 'printed');
  assert.equal(again.get(uidOf(1))?.acked, 'printed');
  assert.equal(again.get(uidOf(1))?.job, undefined, 'content is dropped once final');
  assert.equal(again.get(uidOf(2))?.state, 'received');
  assert.equal(again.get(uidOf(2))?.job?.content, 'x');
  assert.equal(again.get(uidOf(3)), undefined);
  await again.stop();
  assert.equal(
    fs.readFileSync(again.path, 'utf8').trim().split('\n').length,
    3,
    'one line per entry, plus the ack line',
  );

  const expired = new Journal(dir, -1, testLogger());
  await expired.start();
  assert.equal(expired.get(uidOf(1)), undefined, 'a confirmed final entry past retention is forgotten');
  assert.equal(expired.get(uidOf(2))?.state, 'received', 'an unfinished one never is');
  await expired.stop();
});

test('after a crash, a job left printing is reported interrupted, a received one is printed, and unconfirmed acks are re-sent', async (t) => {
  const server = await startTestServer(t);
  const a = ((await postJson(server.baseUrl, '/print', { content: 'was printing' })).json as PrintJob).id;
  const b = ((await postJson(server.baseUrl, '/print', { content: 'was received' })).json as PrintJob).id;
  const c = ((await postJson(server.baseUrl, '/print', { content: 'printed, ack lost' })).json as PrintJob).id;
  const jobOf = async (id: number) => {
    const j = (await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json;
    return { id: j.id, uid: j.uid, content: j.content, createdAt: j.createdAt };
  };
  const uid = async (id: number) => (await jobOf(id)).uid;

  // The journal as a crash would leave it.
  const agentDir = tempDir(t, 'printhop-agent-');
  const journalDir = path.join(agentDir, 'journal');
  const journal = new Journal(journalDir, 30 * DAY, testLogger());
  await journal.start();
  await journal.record(await uid(a), a, 'received', { job: await jobOf(a) });
  await journal.record(await uid(a), a, 'printing');
  await journal.record(await uid(b), b, 'received', { job: await jobOf(b) });
  await journal.record(await uid(c), c, 'received', { job: await jobOf(c) });
  await journal.record(await uid(c), c, 'printing');
  await journal.record(await uid(c), c, 'printed');
  await journal.stop();

  const agent = await startTestAgent(t, server, { dataDir: journalDir });
  const status = async (id: number) => (await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json;
  await waitFor('a interrupted', async () => (await status(a)).status === 'interrupted');
  await waitFor('b printed', async () => (await status(b)).status === 'printed');
  await waitFor('c printed', async () => (await status(c)).status === 'printed');
  assert.match((await status(a)).error ?? '', /may be partly printed/);
  // Only b reaches the paper: a is never reprinted automatically, c was already on paper.
  assert.deepEqual(
    agent.paper().receipts.map((r) => r.lines[3]),
    ['was received'],
  );
  const uids = await Promise.all([a, b, c].map(uid));
  await waitFor('final acks confirmed in the journal', () =>
    uids.every((u) => agent.journal.get(u)?.acked === agent.journal.get(u)?.state),
  );
});

test('a running journal compacts itself: a confirmed final entry past retention disappears from memory and file', async (t) => {
  const dir = tempDir(t);
  const journal = new Journal(dir, 1000, testLogger());
  await journal.start();
  t.after(() => journal.stop());
  const job = { id: 7, uid: uidOf(7), content: 'x', createdAt: new Date().toISOString() };
  await journal.record(uidOf(7), 7, 'received', { job });
  await journal.record(uidOf(7), 7, 'printed');
  journal.confirmAck(uidOf(7), 'printed');
  await journal.record(uidOf(8), 8, 'received', { job: { ...job, id: 8, uid: uidOf(8) } });
  await waitFor('compaction while running', () => journal.get(uidOf(7)) === undefined, 10_000);
  await journal.record(uidOf(9), 9, 'received', { job: { ...job, id: 9, uid: uidOf(9) } });
  const ids = fs
    .readFileSync(journal.path, 'utf8')
    .replace(/\0+$/, '') // the zeros written ahead of the lines (JOURNAL_PREALLOCATE_BYTES)
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { id: number }).id);
  assert.deepEqual(ids, [8, 9], 'the file was rewritten and appends go on after it');
});

test('a job older than the journal retention that the journal does not know is reported interrupted, not printed', async (t) => {
  const server = await startTestServer(t);
  const agent = await startTestAgent(t, server, { journalRetentionDays: 1 });
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const watcher = await connectClient(t, server, 'server', { clientId: 'test-old-job' });
  const acks: Array<{ id: number; status: string; error?: string }> = [];
  await watcher.subscribeAsync(topics.acks('printer-1'), { qos: 1 });
  watcher.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()) as (typeof acks)[number]));
  const old = new Date(Date.now() - 2 * DAY).toISOString();
  await watcher.publishAsync(
    topics.jobs('printer-1'),
    JSON.stringify({ id: 5001, uid: uidOf(5001), content: 'forgotten?', createdAt: old }),
    { qos: 1 },
  );
  await watcher.publishAsync(
    topics.jobs('printer-1'),
    JSON.stringify({ id: 5002, uid: uidOf(5002), content: 'recent', createdAt: new Date().toISOString() }),
    { qos: 1 },
  );
  await waitFor(
    'both final acks',
    () =>
      acks.some((a) => a.id === 5001 && a.status === 'interrupted') &&
      acks.some((a) => a.id === 5002 && a.status === 'printed'),
  );
  assert.match(acks.find((a) => a.id === 5001)?.error ?? '', /older than the agent's journal retention \(1 days\)/);
  assert.deepEqual(
    agent.paper().receipts.map((r) => r.lines[3]),
    ['recent'],
  );
});

test('a journal written before job uids is read: its entries are kept by number, never as a uid, and age out', async (t) => {
  const dir = tempDir(t);
  const at = new Date().toISOString();
  fs.writeFileSync(
    path.join(dir, 'journal.jsonl'),
    [
      JSON.stringify({ id: 4, state: 'received', at, job: { id: 4, content: 'x', createdAt: at } }),
      JSON.stringify({ id: 4, state: 'printed', at }),
      JSON.stringify({ id: 4, acked: 'printed' }),
      JSON.stringify({ uid: uidOf(4), id: 4, state: 'failed', at, error: 'no paper' }),
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  assert.equal(journal.get(legacyKey(4))?.state, 'printed');
  assert.equal(journal.get(legacyKey(4))?.acked, 'printed');
  assert.equal(journal.get(uidOf(4))?.state, 'failed', 'the same number under a uid is another entry');
  assert.equal(journal.size, 2);
  await journal.stop();
  const expired = new Journal(dir, -1, testLogger());
  await expired.start();
  assert.equal(expired.get(legacyKey(4)), undefined, 'gone past the retention period');
  assert.equal(expired.get(uidOf(4))?.state, 'failed', 'an unconfirmed final entry stays');
  await expired.stop();
});
test(
  'a full disk: a failed write leaves no entry and no torn line, so the next line after the space comes back is read on replay',
  { skip: process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root' },
  async (t) => {
    const dir = path.join(tempDir(t), 'agent');
    fs.mkdirSync(dir, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', dir]);
    defer(t, () => execFileSync('umount', ['--lazy', dir]));
    const journal = new Journal(dir, 30 * DAY, testLogger());
    await journal.start();
    const job = (id: number, chars: number) => ({
      id,
      uid: uidOf(id),
      content: 'x'.repeat(chars),
      createdAt: new Date().toISOString(),
    });
    await journal.record(uidOf(1), 1, 'received', { job: job(1, 10) });
    // Every free block taken: only what is left of the journal's last 4 KiB block can still be written.
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    // Longer than what is left of the block: part of it is written, then ENOSPC.
    await assert.rejects(journal.record(uidOf(2), 2, 'received', { job: job(2, 4000) }), { code: 'ENOSPC' });
    assert.equal(journal.get(uidOf(2)), undefined, 'not on disk, so not known');
    fs.rmSync(filler);
    await journal.record(uidOf(3), 3, 'received', { job: job(3, 10) });
    await journal.stop();

    const log = captureLogger();
    const again = new Journal(dir, 30 * DAY, log.log);
    await again.start();
    assert.equal(again.get(uidOf(2)), undefined);
    assert.equal(again.get(uidOf(3))?.state, 'received', 'the line after the failed one is read');
    assert.equal(again.get(uidOf(1))?.state, 'received');
    assert.doesNotMatch(log.text(), /unreadable lines/, 'no torn line');
    await again.stop();
  },
);

test('group commit: the lines of one turn go in one write and one fdatasync; ack confirmations ride along, never synced alone', async (t) => {
  const dir = path.join(tempDir(t), 'agent');
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  const writes = t.mock.method(fs, 'writeSync');
  const syncs = t.mock.method(fs, 'fdatasyncSync');
  const job = (id: number) => ({ id, uid: uidOf(id), content: `job ${id}`, createdAt: new Date().toISOString() });
  // A job's `printed` and the next one's `printing`, and a third job arriving in the same turn.
  await Promise.all([
    journal.record(uidOf(1), 1, 'received', { job: job(1) }),
    journal.record(uidOf(2), 2, 'received', { job: job(2) }),
    journal.record(uidOf(3), 3, 'received', { job: job(3) }),
  ]);
  assert.equal(writes.mock.callCount(), 1, 'one write for the three lines');
  assert.equal(syncs.mock.callCount(), 1, 'one fdatasync for the three lines');
  // Confirmations alone: no write yet, and never a sync of their own.
  journal.confirmAck(uidOf(1), 'received');
  journal.confirmAck(uidOf(2), 'received');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writes.mock.callCount(), 1);
  // The next durable line takes them along: one write, one sync.
  await journal.record(uidOf(1), 1, 'printing');
  assert.equal(writes.mock.callCount(), 2);
  assert.equal(syncs.mock.callCount(), 2);
  const text = fs.readFileSync(journal.path, 'utf8');
  assert.match(text, /"acked":"received"[^]*"state":"printing"/, 'the confirmations went with the printing line');
  // With no durable line to ride with, a confirmation is written within about a second, without a sync.
  journal.confirmAck(uidOf(3), 'received');
  await waitFor(
    'the lone confirmation written',
    () => (fs.readFileSync(journal.path, 'utf8').match(/acked/g) ?? []).length === 3 || null,
    5000,
  );
  assert.equal(syncs.mock.callCount(), 2, 'no sync for confirmations alone');
  await journal.stop();
  const again = new Journal(dir, 30 * DAY, testLogger());
  await again.start();
  assert.equal(again.get(uidOf(3))?.acked, 'received');
  assert.equal(again.get(uidOf(1))?.state, 'printing');
  await again.stop();
});

test('lines overwrite zeros written ahead of them (no file size to sync); a clean stop cuts the zeros off', async (t) => {
  const dir = tempDir(t);
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  const job = (id: number) => ({ id, uid: uidOf(id), content: `job ${id}`, createdAt: new Date().toISOString() });
  await journal.record(uidOf(1), 1, 'received', { job: job(1) });
  const size = fs.statSync(journal.path).size;
  const lines = fs.readFileSync(journal.path, 'utf8').replace(/\0+$/, '');
  assert.equal(size, Buffer.byteLength(lines) + JOURNAL_PREALLOCATE_BYTES, 'zeros written ahead with the first line');
  await journal.record(uidOf(1), 1, 'printing');
  await journal.record(uidOf(1), 1, 'printed');
  assert.equal(fs.statSync(journal.path).size, size, 'the next lines went over the zeros: the size did not change');
  await journal.stop();
  const text = fs.readFileSync(journal.path, 'utf8');
  assert.ok(!text.includes('\0'), 'no zeros left after a clean stop');
  assert.deepEqual(
    text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { state: string }).state),
    ['received', 'printing', 'printed'],
  );
});

test('after a crash, the lines end at the first zero: what lies beyond (writes never synced) is not read, and is cut', async (t) => {
  const dir = tempDir(t);
  const journal = new Journal(dir, 30 * DAY, testLogger());
  await journal.start();
  const job = { id: 1, uid: uidOf(1), content: 'x', createdAt: new Date().toISOString() };
  await journal.record(uidOf(1), 1, 'received', { job });
  // The crash: no stop(). A later write whose sync never returned reached the disk in part, past a page of zeros.
  const end = fs.readFileSync(journal.path, 'utf8').indexOf('\0');
  const fd = fs.openSync(journal.path, 'r+');
  const line = `{"uid":"${uidOf(1)}","id":1,"state":"printed","at":"${new Date().toISOString()}"}`;
  fs.writeSync(fd, `\n${line}\n`, end + 4095); // whole lines of their own, were the zeros read as a (bad) line
  fs.closeSync(fd);

  const again = new Journal(dir, 30 * DAY, testLogger());
  await again.start();
  assert.equal(again.get(uidOf(1))?.state, 'received', 'the line past the zeros was never synced: not read');
  await again.record(uidOf(1), 1, 'printing');
  await again.stop();
  const states = fs
    .readFileSync(journal.path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { state: string }).state);
  assert.deepEqual(states, ['received', 'printing'], 'nothing of it left in the file');
});
