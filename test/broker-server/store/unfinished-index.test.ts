/**
 * The partial index of unfinished jobs (migration 0013) is used by every query that reads jobs by printer and
 * state: it holds only the unfinished jobs, so a planner uses it only where the query names the same statuses
 * with the same text (store/sql-print-store.ts UNFINISHED_SQL). These are the store's own queries, recorded as
 * it runs them, then asked of SQLite's planner, against a table where finished jobs are most of the rows. Across
 * printers the planner may take the status index's runs of the three statuses instead: as good, it reads no
 * finished job either.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestDatabase } from '../../support/harness';

/** A plan that reads the unfinished jobs only: the partial index, or the status index's runs of their statuses. */
const UNFINISHED_ONLY = /INDEX print_jobs_unfinished|INDEX print_jobs_status \(status=\?\)/;

test('SQLite reads unfinished jobs, their counts and the stale ones without reading finished ones', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  const jobs = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      store.insert({ printerId: `p${i % 3}`, content: `j${i}`, kind: 'message', reprintOf: null }),
    ),
  );
  for (const job of jobs.slice(0, 50)) {
    for (const to of ['sent', 'received', 'printed'] as const)
      await store.transition({ id: job.id, to, at: new Date() });
  }
  const indexes = await db.sql.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'print_jobs' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    [],
  );
  assert.deepEqual(
    indexes.map((i) => i.name),
    ['print_jobs_status', 'print_jobs_uid', 'print_jobs_unfinished'],
    'no index moves with each status but the partial one',
  );

  const seen: Array<{ sql: string; bind: unknown[] }> = [];
  const all = db.sql.all.bind(db.sql);
  db.sql.all = ((sql: string, bind: unknown[]) => {
    seen.push({ sql, bind });
    return all(sql, bind);
  }) as typeof db.sql.all;
  const read = async <T>(what: string, run: () => Promise<T>): Promise<{ result: T; plan: string }> => {
    seen.length = 0;
    const result = await run();
    assert.equal(seen.length, 1, `${what}: one statement`);
    const { sql, bind } = seen[0]!;
    const plan = (await all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, bind)).map((r) => r.detail).join('; ');
    return { result, plan };
  };

  const byPrinter = await read('unfinished(p1)', () => store.unfinished('p1'));
  assert.deepEqual(
    byPrinter.result.map((j) => j.content),
    jobs
      .slice(50)
      .filter((j) => j.printerId === 'p1')
      .map((j) => j.content),
  );
  assert.match(byPrinter.plan, /USING (COVERING )?INDEX print_jobs_unfinished/, byPrinter.plan);
  const page = await read('unfinished(p1, after, limit)', () => store.unfinished('p1', jobs[50]!.id, 2));
  assert.equal(page.result.length, 2);
  assert.match(page.plan, /INDEX print_jobs_unfinished/, page.plan);
  const every = await read('unfinished()', () => store.unfinished());
  assert.equal(every.result.length, 10);
  assert.match(every.plan, UNFINISHED_ONLY, every.plan);
  assert.doesNotMatch(every.plan, /SCAN print_jobs\b/, every.plan);
  const counts = await read('unfinishedCounts()', () => store.unfinishedCounts!());
  assert.deepEqual(Object.fromEntries(counts.result), { p0: 3, p1: 3, p2: 4 });
  assert.match(counts.plan, UNFINISHED_ONLY, counts.plan);
  assert.doesNotMatch(counts.plan, /SCAN print_jobs\b/, counts.plan);
  const stale = await read('stale()', () => store.stale(new Date(Date.now() + 60_000)));
  assert.deepEqual(stale.result, [], 'no printer online');
  assert.match(stale.plan, UNFINISHED_ONLY, stale.plan);
  assert.doesNotMatch(stale.plan, /SCAN print_jobs\b/, stale.plan);
});
