/** The PrintStore contract, through the interface only, on SQLite, PostgreSQL and the in-memory store the other fast tests use. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import type { PrintStore, PrintJob } from '../../../broker-server/store/print-store';
import { followChanges } from '../../support/change-log';
import { startTestDatabase, testEachDatabase } from '../../support/harness';
import { MemoryPrintStore } from '../../support/memory-print-store';
import { postgresMissing } from '../../support/services';

type Kind = 'memory' | 'sqlite' | 'postgres';

async function openStore(t: TestContext, kind: Kind): Promise<PrintStore> {
  if (kind === 'memory') return new MemoryPrintStore();
  return (await startTestDatabase(t, kind)).createPrintStore();
}

function eachStore(name: string, fn: (store: PrintStore) => Promise<void>): void {
  for (const kind of ['memory', 'sqlite', 'postgres'] as const) {
    test(`${name} [${kind}]`, { skip: kind === 'postgres' ? postgresMissing() : false }, async (t) =>
      fn(await openStore(t, kind)),
    );
  }
}

const newJob = (printerId: string, content: string) => ({
  printerId,
  content,
  kind: 'message' as const,
  reprintOf: null,
});

eachStore('an inserted job is pending, stamped, and read back as stored', async (store) => {
  const before = Date.now() - 1000;
  const job = await store.insert({ printerId: 'p1', content: 'bonjour', kind: 'test', reprintOf: 7 });
  assert.equal(job.status, 'pending');
  assert.equal(job.kind, 'test');
  assert.equal(job.reprintOf, 7);
  assert.ok(Date.parse(job.createdAt) >= before);
  assert.equal(job.createdAt, job.updatedAt);
  assert.deepEqual(
    [job.sentAt, job.receivedAt, job.printedAt, job.finishedAt, job.error],
    [null, null, null, null, null],
  );
  assert.deepEqual(await store.get(job.id), job);
  assert.equal(await store.get(job.id + 1000), null);
});

eachStore(
  'each job gets its own time-ordered uid, stored with it; a move that names another uid does not apply',
  async (store) => {
    const before = Date.now();
    const jobs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.insert(newJob('p1', `j${i}`))));
    const uids = jobs.map((j) => j.uid);
    assert.equal(new Set(uids).size, uids.length, 'no uid twice, even within one group commit');
    for (const uid of uids) {
      assert.match(uid, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUID of version 7');
      const ms = parseInt(uid.slice(0, 8) + uid.slice(9, 13), 16);
      assert.ok(ms >= before && ms <= Date.now(), 'its first 48 bits are the time it was made, in ms');
    }
    assert.equal((await store.get(jobs[3]!.id))?.uid, uids[3]);
    const given = await store.insert({ ...newJob('p1', 'given'), uid: '11111111-2222-4333-8444-555555555555' });
    assert.equal(given.uid, '11111111-2222-4333-8444-555555555555');
    const at = new Date();
    const [a, b] = jobs as [PrintJob, PrintJob];
    // Several moves in one batch, some naming the right uid, one another job's: only the right ones apply.
    const moved = await Promise.all([
      store.transition({ id: a.id, to: 'received', printerId: 'p1', uid: b.uid, at }),
      store.transition({ id: b.id, to: 'received', printerId: 'p1', uid: b.uid, at }),
      store.transition({ id: jobs[2]!.id, to: 'received', uid: jobs[2]!.uid, at }),
    ]);
    assert.deepEqual(
      moved.map((j) => j?.status ?? null),
      [null, 'received', 'received'],
    );
    assert.equal((await store.get(a.id))?.status, 'pending');
  },
);

eachStore(
  'transitions follow the shared rules: stamps, finishedAt, error, forward only, owner checked',
  async (store) => {
    const job = await store.insert(newJob('p1', 'x'));
    const at = new Date('2026-01-02T03:04:05.678Z');
    const sent = (await store.transition({ id: job.id, to: 'sent', at }))!;
    assert.equal(sent.status, 'sent');
    assert.equal(sent.sentAt, at.toISOString());
    assert.equal(
      await store.transition({ id: job.id, to: 'received', printerId: 'p2', at }),
      null,
      "not the printer's job",
    );
    assert.equal(await store.transition({ id: job.id + 1000, to: 'received', at }), null, 'unknown job');
    const failed = (await store.transition({ id: job.id, to: 'failed', printerId: 'p1', at, error: 'no paper' }))!;
    assert.deepEqual(
      [failed.status, failed.error, failed.finishedAt, failed.printedAt],
      ['failed', 'no paper', at.toISOString(), null],
    );
    assert.equal(await store.transition({ id: job.id, to: 'printed', at }), null, 'a final state is never left');
    assert.deepEqual(await store.get(job.id), failed);
    const other = await store.insert(newJob('p1', 'y'));
    const printed = (await store.transition({ id: other.id, to: 'printed', at, error: 'ignored' }))!;
    assert.deepEqual(
      [printed.printedAt, printed.finishedAt, printed.error],
      [at.toISOString(), at.toISOString(), null],
    );
  },
);

eachStore('list is newest first and filters; unfinished is oldest first', async (store) => {
  const [a, b, c] = [
    await store.insert(newJob('p1', 'a')),
    await store.insert(newJob('p2', 'b')),
    await store.insert(newJob('p1', 'c')),
  ];
  await store.transition({ id: b.id, to: 'printed', at: new Date() });
  assert.deepEqual(
    (await store.list({})).map((j) => j.id),
    [c.id, b.id, a.id],
  );
  assert.deepEqual(
    (await store.list({ limit: 1 })).map((j) => j.id),
    [c.id],
  );
  assert.deepEqual(
    (await store.list({ printerId: 'p1' })).map((j) => j.id),
    [c.id, a.id],
  );
  assert.deepEqual(
    (await store.list({ status: 'printed' })).map((j) => j.id),
    [b.id],
  );
  assert.deepEqual(
    (await store.unfinished()).map((j) => j.id),
    [a.id, c.id],
  );
  assert.deepEqual(
    (await store.unfinished('p2')).map((j) => j.id),
    [],
  );
});

eachStore(
  'unfinished in pages: after an id, at most a limit, oldest first, skipping finished and other printers',
  async (store) => {
    const jobs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.insert(newJob(i % 3 === 2 ? 'p2' : 'p1', `j${i}`))),
    );
    const ids = jobs.map((j) => j.id).sort((a, b) => a - b);
    // Finished jobs and one `received` among them: the finished ones are not in any page, the received one is.
    await store.transition({ id: ids[1]!, to: 'printed', at: new Date() });
    await store.transition({ id: ids[4]!, to: 'failed', at: new Date(), error: 'no paper' });
    await store.transition({ id: ids[6]!, to: 'received', at: new Date() });
    const mine = jobs
      .filter((j) => j.printerId === 'p1' && j.id !== ids[1] && j.id !== ids[4])
      .map((j) => j.id)
      .sort((a, b) => a - b);
    assert.equal(mine.length, 6);
    const pages: number[][] = [];
    for (let after = 0; ;) {
      const page = await store.unfinished('p1', after, 4);
      if (!page.length) break;
      assert.ok(page.length <= 4);
      pages.push(page.map((j) => j.id));
      after = page.at(-1)!.id;
    }
    assert.deepEqual(pages, [mine.slice(0, 4), mine.slice(4)]);
    assert.equal(
      (await store.unfinished('p1', ids[6]!, 100)).find((j) => j.id === ids[6]),
      undefined,
      'after is exclusive',
    );
    assert.deepEqual(
      (await store.unfinished('p1', 0, 2)).map((j) => [j.id, j.status]),
      [
        [mine[0], 'pending'],
        [mine[1], 'pending'],
      ],
    );
    assert.deepEqual(
      (await store.unfinished(undefined, ids[8]!, 100)).map((j) => j.id),
      ids.slice(9),
    );
    // Without a page: everything, as before.
    assert.deepEqual(
      (await store.unfinished('p1')).map((j) => j.id),
      mine,
    );
  },
);

eachStore('stale: unfinished jobs of online printers only; prune: finished ones only', async (store) => {
  const [online, offline] = [await store.insert(newJob('p1', 'a')), await store.insert(newJob('p2', 'b'))];
  const done = await store.insert(newJob('p1', 'c'));
  await store.transition({ id: done.id, to: 'printed', at: new Date(Date.now() - 10_000) });
  await store.writePrinterStatus('p1', { state: 'online', condition: 'ok', detail: null, at: new Date() });
  await store.writePrinterStatus('p2', { state: 'offline', condition: null, detail: 'gone', at: new Date() });
  const later = new Date(Date.now() + 60_000);
  assert.deepEqual(
    (await store.stale(later)).map((j) => j.id),
    [online.id],
  );
  assert.deepEqual(await store.stale(new Date(Date.now() - 60_000)), [], 'nothing older than that');
  assert.equal(await store.prune(new Date(Date.now() - 60_000)), 0);
  assert.equal(await store.prune(later), 1);
  assert.equal(await store.get(done.id), null);
  assert.ok(await store.get(offline.id), 'unfinished jobs are never pruned');
});

eachStore(
  'a printer status is written whole, keeps paper and code page when not given, and all go offline at once',
  async (store) => {
    assert.equal(await store.printer('p1'), null);
    await store.writePrinterStatus('p1', {
      state: 'online',
      condition: 'ok',
      detail: null,
      columns: 32,
      codepage: 'cp858',
      at: new Date(),
    });
    await store.writePrinterStatus('p1', {
      state: 'online',
      condition: 'paper-out',
      detail: 'no paper',
      at: new Date(),
    });
    await store.writePrinterStatus('p0', { state: 'offline', condition: null, detail: null, at: new Date() });
    const p1 = (await store.printer('p1'))!;
    assert.deepEqual(
      { ...p1, lastSeenAt: null },
      {
        id: 'p1',
        state: 'online',
        condition: 'paper-out',
        detail: 'no paper',
        columns: 32,
        codepage: 'cp858',
        lastSeenAt: null,
        agentInfo: null,
      },
    );
    assert.ok(p1.lastSeenAt);
    // The agent's own figures (issue 14) are kept when a later status (offline, an older agent) has none.
    await store.writePrinterStatus('p1', {
      state: 'online',
      condition: 'ok',
      detail: null,
      agentInfo: '{"version":"0.1.0"}',
      at: new Date(),
    });
    await store.writePrinterStatus('p1', { state: 'offline', condition: null, detail: null, at: new Date() });
    assert.equal((await store.printer('p1'))!.agentInfo, '{"version":"0.1.0"}');
    await store.writePrinterStatus('p1', {
      state: 'online',
      condition: 'paper-out',
      detail: 'no paper',
      at: new Date(),
    });
    assert.deepEqual(
      (await store.printers()).map((p) => p.id),
      ['p0', 'p1'],
    );
    await store.markAllOffline();
    assert.equal((await store.printer('p1'))?.state, 'offline');
  },
);

test('unfinished jobs are counted per printer by the database (metrics)', async (t) => {
  for (const kind of ['sqlite', ...(postgresMissing() ? [] : ['postgres' as const])] as const) {
    const store = await openStore(t, kind);
    const a = await store.insert(newJob('p1', 'a'));
    await store.insert(newJob('p1', 'b'));
    await store.insert(newJob('p2', 'c'));
    await store.transition({ id: a.id, to: 'printed', at: new Date() });
    assert.deepEqual(
      [...(await store.unfinishedCounts!())].sort(),
      [
        ['p1', 1],
        ['p2', 1],
      ],
      kind,
    );
  }
});

eachStore(
  'the event log holds every committed change in order, none for a refused move; bounds and pruning',
  async (store) => {
    assert.deepEqual(await store.eventBounds(), { first: null, last: 0 });
    const at = new Date();
    const a = await store.insert(newJob('p1', 'a'));
    await store.transition({ id: a.id, to: 'sent', at });
    assert.equal(await store.transition({ id: a.id, to: 'pending', at }), null);
    assert.equal(await store.transition({ id: a.id, to: 'received', printerId: 'p2', at }), null);
    const b = await store.insert(newJob('p2', 'b'));
    await store.transition({ id: a.id, to: 'failed', at, error: 'no paper' });
    const events = await store.eventsAfter(0, 100);
    assert.deepEqual(
      events.map((e) => `${e.job?.id} ${e.job?.status}`),
      [`${a.id} pending`, `${a.id} sent`, `${b.id} pending`, `${a.id} failed`],
    );
    const ids = events.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
    );
    assert.deepEqual(await store.eventBounds(), { first: ids[0], last: ids[3] });
    // Each event carries the job as it was then.
    assert.deepEqual(
      [events[1]!.job!.error, events[1]!.job!.finishedAt, events[3]!.job!.error],
      [null, null, 'no paper'],
    );
    assert.deepEqual(events[3]!.job, await store.get(a.id), 'the last event carries the job as stored');
    // Paging.
    assert.deepEqual(
      (await store.eventsAfter(ids[0]!, 2)).map((e) => e.id),
      [ids[1], ids[2]],
    );
    assert.deepEqual(await store.eventsAfter(ids[3]!, 10), []);
    // Pruning keeps the newest event, which carries the last id.
    assert.equal(await store.pruneEvents(new Date(Date.now() + 60_000)), 3);
    assert.deepEqual(await store.eventBounds(), { first: ids[3], last: ids[3] });
    // An event whose job was pruned keeps its id, without the job.
    assert.equal(await store.prune(new Date(Date.now() + 60_000)), 1);
    assert.deepEqual(await store.eventsAfter(ids[2]!, 10), [{ id: ids[3], job: null }]);
  },
);

test('SQLite: the event log shows only committed changes, even while a batch holds the shared connection in a transaction', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  const committed = await store.insert(newJob('p1', 'committed'));
  const before = await store.eventsAfter(0, 10);
  assert.deepEqual(
    before.map((e) => e.job?.id),
    [committed.id],
  );
  // What a group-commit batch does between BEGIN and COMMIT, on the connection Sequelize shares.
  await db.sequelize.query('BEGIN IMMEDIATE');
  await db.sequelize.query(
    `INSERT INTO print_jobs (printer_id, content, kind, status, created_at, updated_at) VALUES ('p1', 'open', 'message', 'pending', '2026-12-02 00:00:00.000 +00:00', '2026-12-02 00:00:00.000 +00:00')`,
  );
  assert.deepEqual(
    (await store.eventsAfter(0, 10)).map((e) => e.job?.id),
    [committed.id],
    'not the open transaction’s event',
  );
  assert.equal((await store.eventBounds()).last, before[0]!.id);
  await db.sequelize.query('ROLLBACK');
  const next = await store.insert(newJob('p1', 'next'));
  assert.deepEqual(
    (await store.eventsAfter(0, 10)).map((e) => e.job?.id),
    [committed.id, next.id],
    'the rolled-back change never appears',
  );
});

test('SQLite: the change log hands its followers only committed changes, now that the store reads them on the writing connection', async (t) => {
  // The store reads each batch's events on the connection that wrote them, after COMMIT, and hands them to
  // the log's followers (store/sqlite-print-store.ts). Every transaction on that connection takes the
  // client's turn (SqlClient#transaction, the store's scripts), so that read never falls inside one:
  // here one is held open, then rolled back, while a job is written meanwhile.
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  const changes = await followChanges(t, store);
  const committed = await store.insert(newJob('p1', 'committed'));
  await changes.settled();
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  let fail!: () => void;
  const failing = new Promise<void>((resolve) => (fail = resolve));
  const open = db.sql.transaction(async (tx) => {
    await tx.run(
      `INSERT INTO print_jobs (uid, printer_id, content, kind, status, created_at, updated_at) VALUES ($1, 'p1', 'open', 'message', 'pending', $2, $2)`,
      ['11111111-2222-4333-8444-555555555555', db.sql.date(new Date())],
    );
    entered();
    await failing;
    throw new Error('rolled back');
  });
  await inside;
  const next = store.insert(newJob('p1', 'next'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(
    changes.seen.map((j) => j.content),
    ['committed'],
    'nothing of the open transaction',
  );
  fail();
  await assert.rejects(open, /rolled back/);
  await next;
  await changes.settled();
  assert.deepEqual(
    changes.seen.map((j) => j.content),
    ['committed', 'next'],
    'the rolled-back change never appears',
  );
  assert.equal(changes.seen[0]!.id, committed.id);
});

testEachDatabase(
  'the event log is pruned in id order up to the first event it keeps: one stamped earlier after it stays, the newest always',
  async (t, dialect) => {
    const db = await startTestDatabase(t, dialect);
    const store = db.createPrintStore();
    const jobs = await Promise.all([1, 2, 3, 4].map((i) => store.insert(newJob('p1', `e${i}`))));
    const ids = (await store.eventsAfter(0, 10)).map((e) => e.id);
    assert.equal(ids.length, 4);
    const day = 86_400_000;
    // Old, recent, old again (a clock set back), old: the second is the first event kept.
    const stamps = [10 * day, 0, 10 * day, 10 * day];
    for (const [i, id] of ids.entries())
      await db.sql.run('UPDATE job_events SET at = $1 WHERE id = $2', [
        db.sql.date(new Date(Date.now() - stamps[i]!)),
        id,
      ]);
    assert.equal(await store.pruneEvents(new Date(Date.now() - day)), 1);
    assert.deepEqual(
      (await store.eventsAfter(0, 10)).map((e) => e.id),
      ids.slice(1),
      'only the events before the first one kept',
    );
    // Everything older: all but the newest.
    assert.equal(await store.pruneEvents(new Date(Date.now() + day)), 2);
    assert.deepEqual(await store.eventBounds(), { first: ids[3], last: ids[3] });
    assert.equal(jobs.length, 4);
  },
);
