import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { JobService } from '../../../broker-server/jobs/job-service';
import { JobRetention } from '../../../broker-server/jobs/retention';
import { followChanges } from '../../support/change-log';
import { startTestDatabase, testEachDatabase, type TestDialect, testLogger } from '../../support/harness';
import { uidOf } from '../../support/job-uids';

async function store(t: TestContext, dialect: TestDialect) {
  return new JobService((await startTestDatabase(t, dialect)).createPrintStore(), testLogger());
}

testEachDatabase(
  'concurrent creates share commits and each gets its own committed row, in order',
  async (t, dialect) => {
    const jobs = await store(t, dialect);
    const created = await Promise.all(
      Array.from({ length: 300 }, (_, i) => jobs.create({ printerId: i % 2 ? 'p1' : 'p2', content: `c${i}` })),
    );
    const ids = created.map((j) => j.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'ids follow the order of the calls',
    );
    assert.equal(new Set(ids).size, 300);
    for (const [i, job] of created.entries()) {
      assert.equal(job.content, `c${i}`);
      assert.equal(job.status, 'pending');
      assert.deepEqual(await jobs.queries.get(job.id), job, 'what create returned is what is stored');
    }
  },
);

testEachDatabase(
  'concurrent transitions of one job apply in arrival order, never backwards, and check the owner',
  async (t, dialect) => {
    const jobStore = (await startTestDatabase(t, dialect)).createPrintStore();
    const jobs = new JobService(jobStore, testLogger());
    const job = await jobs.create({ printerId: 'p1', content: 'x' });
    const changes = await followChanges(t, jobStore);
    const at = new Date('2026-01-02T03:04:05.678Z');
    const results = await Promise.all([
      jobs.transition(job.id, 'sent'),
      jobs.applyAck('p2', { id: job.id, uid: job.uid, status: 'printed', at: at.toISOString() }),
      jobs.applyAck('p1', { id: job.id, uid: job.uid, status: 'received', at: at.toISOString() }),
      jobs.applyAck('p1', { id: job.id, uid: job.uid, status: 'printed', at: at.toISOString() }),
      jobs.applyAck('p1', { id: job.id, uid: job.uid, status: 'received', at: at.toISOString() }),
      jobs.applyAck('p1', { id: job.id, uid: job.uid, status: 'failed', at: at.toISOString(), error: 'late' }),
      jobs.applyAck('p1', { id: 999_999, uid: job.uid, status: 'printed', at: at.toISOString() }),
      // The same number under another uid: an ack meant for another database (replaced, or before a restore).
      jobs.applyAck('p1', { id: job.id, uid: uidOf(job.id, 9), status: 'printed', at: at.toISOString() }),
    ]);
    assert.deepEqual(
      results.map((r) => (r.changed ? 'changed' : r.reason)),
      ['changed', 'wrong-printer', 'changed', 'changed', 'not-allowed', 'not-allowed', 'unknown-job', 'other-uid'],
    );
    await changes.settled();
    const events = changes.seen.filter((j) => j.id === job.id).map((j) => j.status);
    assert.deepEqual(events, ['sent', 'received', 'printed']);
    const final = (await jobs.queries.get(job.id))!;
    assert.equal(final.status, 'printed');
    assert.equal(final.printedAt, at.toISOString(), "the agent's time of printing is kept");
    assert.equal(final.error, null);
  },
);

testEachDatabase(
  'finished jobs older than the retention are pruned; unfinished ones never are, however old',
  async (t, dialect) => {
    const jobs = await store(t, dialect);
    const old = new Date(Date.now() - 100 * 86_400_000);
    const [printedOld, failedOld, printedNew, pendingOld] = await Promise.all(
      [1, 2, 3, 4].map((i) => jobs.create({ printerId: 'p1', content: `r${i}` })),
    );
    await jobs.transition(printedOld!.id, 'printed', { at: old });
    await jobs.transition(failedOld!.id, 'failed', { at: old, error: 'no paper' });
    await jobs.transition(printedNew!.id, 'printed');
    const retention = new JobRetention(jobs, 90, testLogger());
    await retention.pruneNow();
    assert.equal(await jobs.queries.get(printedOld!.id), null);
    assert.equal(await jobs.queries.get(failedOld!.id), null);
    assert.equal((await jobs.queries.get(printedNew!.id))?.status, 'printed', 'finished recently: kept');
    assert.equal((await jobs.queries.get(pendingOld!.id))?.status, 'pending', 'unfinished: kept');
    assert.equal(await jobs.prune(new Date()), 1, 'everything finished before now: the recent one');
  },
);

testEachDatabase(
  'a job alone costs two commits: its insert, then its `sent` mark and `received` ack riding with its `printed` ack',
  async (t, dialect) => {
    const jobStore = (await startTestDatabase(t, dialect)).createPrintStore();
    const jobs = new JobService(jobStore, testLogger());
    let commits = 0;
    jobStore.observeCommits?.(() => commits++);
    const job = await jobs.create({ printerId: 'p1', content: 'seul' });
    assert.equal(commits, 1);
    const { uid } = job;
    const at = () => new Date().toISOString();
    // As the dispatcher does: the mark after the publication, then the agent's acks, each in a turn of its own.
    const sent = jobs.transition(job.id, 'sent', { deferrable: true });
    await new Promise((r) => setImmediate(r));
    const received = jobs.applyAck('p1', { id: job.id, uid, status: 'received', at: at() });
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(commits, 1, 'nothing committed for the mark and the `received` ack alone');
    assert.equal((await jobs.queries.get(job.id))?.status, 'pending', 'and nothing visible before its commit');
    const printed = await jobs.applyAck('p1', { id: job.id, uid, status: 'printed', at: at() });
    assert.ok(printed.changed);
    assert.ok((await sent).changed && (await received).changed);
    assert.equal(commits, 2, 'the three moves in one commit');
    const events = (await jobs.queries.eventsAfter(0, 10)).map((e) => e.job?.status);
    assert.deepEqual(events, ['pending', 'sent', 'received', 'printed'], 'each move its own event, in order');

    // A `received` ack with no final ack after it is committed alone within DEFER_MS.
    const other = await jobs.create({ printerId: 'p1', content: 'reçu' });
    const alone = await jobs.applyAck('p1', {
      id: other.id,
      uid: other.uid,
      status: 'received',
      at: at(),
    });
    assert.ok(alone.changed);
    assert.equal((await jobs.queries.get(other.id))?.status, 'received');
  },
);
