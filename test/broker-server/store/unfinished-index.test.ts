/**
 * The partial index of unfinished jobs (migration 0013) is used by every query that reads jobs by printer and
 * state: it holds only the unfinished jobs, so a planner uses it only where the query names the same statuses
 * with the same text (store/sql-print-store.ts UNFINISHED_SQL). These are the store's own queries, recorded as
 * it runs them, then asked of the database's planner (PostgreSQL's told not to scan the table, which it would
 * for so few rows), against a table where finished jobs are most of the rows. Across printers a planner may take
 * the status index's runs of the three statuses instead: as good, it reads no finished job either.
 */
import assert from 'node:assert/strict';
import { testEachDatabase, startTestDatabase } from '../../support/harness';
import type { Database } from '../../../broker-server/store/database';

/** A plan that reads the unfinished jobs only: the partial index, or the status index's runs of their statuses. */
const UNFINISHED_ONLY =
  /INDEX print_jobs_unfinished|INDEX print_jobs_status \(status=\?\)|(Index|Bitmap Index) Scan (using|on) print_jobs_(unfinished|status)/;
/** A plan that reads the whole job table. */
const WHOLE_TABLE = /SCAN print_jobs\b|Seq Scan on print_jobs/;

async function planOf(db: Database, sql: string, bind: unknown[]): Promise<string> {
  if (db.sql.dialect === 'sqlite')
    return (await db.sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, bind)).map((r) => r.detail).join('; ');
  return db.sql.transaction(async (tx) => {
    await tx.run('SET LOCAL enable_seqscan = off', []);
    return (await tx.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, bind)).map((r) => r['QUERY PLAN']).join('; ');
  });
}

testEachDatabase(
  'unfinished jobs, their counts and the stale ones are read without reading finished ones',
  async (t, dialect) => {
    const db = await startTestDatabase(t, dialect);
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
      dialect === 'sqlite'
        ? "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'print_jobs' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        : "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'print_jobs' AND indexname <> 'print_jobs_pkey' ORDER BY indexname",
      [],
    );
    assert.deepEqual(
      indexes.map((i) => i.name),
      ['print_jobs_status', 'print_jobs_uid', 'print_jobs_unfinished'],
      'no index moves with each status but the partial one',
    );

    // The store's statements, as it sends them to its connection.
    const seen: Array<{ sql: string; bind: unknown[] }> = [];
    const all = db.sql.all.bind(db.sql);
    const recording = ((sql: string, bind: unknown[]) => {
      seen.push({ sql, bind });
      return all(sql, bind);
    }) as typeof db.sql.all;
    const read = async <T>(what: string, run: () => Promise<T>): Promise<{ result: T; plan: string }> => {
      seen.length = 0;
      db.sql.all = recording;
      let result: T;
      try {
        result = await run();
      } finally {
        db.sql.all = all;
      }
      assert.equal(seen.length, 1, `${what}: one statement`);
      return { result, plan: await planOf(db, seen[0]!.sql, seen[0]!.bind) };
    };

    const byPrinter = await read('unfinished(p1)', () => store.unfinished('p1'));
    assert.deepEqual(
      byPrinter.result.map((j) => j.content),
      jobs
        .slice(50)
        .filter((j) => j.printerId === 'p1')
        .map((j) => j.content),
    );
    assert.match(byPrinter.plan, /print_jobs_unfinished/, byPrinter.plan);
    const page = await read('unfinished(p1, after, limit)', () => store.unfinished('p1', jobs[50]!.id, 2));
    assert.equal(page.result.length, 2);
    assert.match(page.plan, /print_jobs_unfinished/, page.plan);
    const every = await read('unfinished()', () => store.unfinished());
    assert.equal(every.result.length, 10);
    const counts = await read('unfinishedCounts()', () => store.unfinishedCounts!());
    assert.deepEqual(Object.fromEntries(counts.result), { p0: 3, p1: 3, p2: 4 });
    const stale = await read('stale()', () => store.stale(new Date(Date.now() + 60_000)));
    assert.deepEqual(stale.result, [], 'no printer online');
    for (const { plan } of [every, counts, stale]) {
      assert.match(plan, UNFINISHED_ONLY, plan);
      assert.doesNotMatch(plan, WHOLE_TABLE, plan);
    }
  },
);
