/** A backlog's catch-up on a real SQLite store: the acks of a printer whose backlog is re-published share commits. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatcher } from '../../../broker-server/jobs/dispatcher';
import { JobService } from '../../../broker-server/jobs/job-service';
import { DEFER_MS } from '../../../broker-server/store/group-commit';
import { PrinterStatusList } from '../../../broker-server/printers/printer-status-list';
import { JOB_PROTOCOL } from '../../../protocol/messages';
import { topics } from '../../../protocol/topics';
import { startTestDatabase, testLogger } from '../../support/harness';
import { MemoryBus } from '../../support/memory-bus';

const tick = () => new Promise((r) => setImmediate(r));

test("while a printer's backlog is re-published, its acks, final ones too, share commits instead of one each", async (t) => {
  const store = (await startTestDatabase(t, 'sqlite')).createPrintStore();
  const log = testLogger();
  const jobs = new JobService(store, log);
  const bus = new MemoryBus();
  const dispatcher = new Dispatcher(bus, jobs, new PrinterStatusList(store, ['p1'], log), log, {
    backlogWindow: 4,
    backlogStallMs: 60_000,
  });
  await dispatcher.start();
  t.after(() => dispatcher.stop());
  const backlog = [];
  for (let i = 0; i < 12; i++) backlog.push(await jobs.create({ printerId: 'p1', content: `job ${i}` }));
  let commits = 0;
  store.observeCommits?.(() => commits++);
  await bus.deliver(topics.status('p1'), { state: 'online', printer: 'ok', protocol: JOB_PROTOCOL });
  const at = () => new Date().toISOString();
  // The agent answers each job in turns of its own, a few ms apart, as its journal syncs do: received, then printed.
  const started = Date.now();
  for (const job of backlog) {
    const deadline = Date.now() + 10_000;
    while (!bus.jobIds(topics.jobs('p1')).includes(job.id)) {
      assert.ok(Date.now() < deadline, `job ${job.id} published`);
      await tick();
    }
    await bus.deliver(topics.acks('p1'), { id: job.id, uid: job.uid, status: 'received', at: at() });
    await tick();
    await bus.deliver(topics.acks('p1'), { id: job.id, uid: job.uid, status: 'printed', at: at() });
    await new Promise((r) => setTimeout(r, 8));
  }
  const elapsed = Date.now() - started;
  await dispatcher.idle();
  assert.deepEqual(
    (await jobs.queries.list({ printerId: 'p1' })).map((j) => j.status),
    backlog.map(() => 'printed'),
    'every ack applied',
  );
  // 12 printed acks 8 ms apart: one commit each before; now they ride together, a commit per DEFER_MS at most
  // (and one more for the last of them, when the pass ends).
  const bound = Math.ceil(elapsed / DEFER_MS) + 2;
  assert.ok(commits <= bound, `${commits} commits in ${elapsed} ms for 12 jobs' marks and acks (at most ${bound})`);
  // Once the pass is over, a final ack commits at once again.
  const next = await jobs.create({ printerId: 'p1', content: 'after' });
  await dispatcher.publish(next);
  const before = commits;
  await bus.deliver(topics.acks('p1'), { id: next.id, uid: next.uid, status: 'printed', at: at() });
  await dispatcher.idle();
  assert.equal((await jobs.queries.get(next.id))?.status, 'printed');
  assert.equal(commits, before + 1, 'its own commit, with the mark riding along');
});
