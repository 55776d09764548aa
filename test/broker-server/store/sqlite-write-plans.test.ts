/**
 * The SQLite store's batch statements, as it hands them to its script (SqliteSession#execTransaction), asked
 * of SQLite's planner on a table where most jobs wait in one status: a batch's moves find each job by its id,
 * whatever the number of rows in the batch's JSON (json_each, whose size the planner does not know), and never
 * walk the jobs of a status. Without `+status` in the UPDATE (store/sqlite-print-store.ts updateSql) the planner
 * took the status index first and scanned the batch's rows for every job waiting in that status.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SqliteClient, SqliteSession } from '../../../broker-server/db/sql-client';
import { startTestDatabase } from '../../support/harness';

test("a batch's moves and inserts find their rows by id, never by walking a status", async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  const jobs = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      store.insert({ printerId: `p${i % 3}`, content: `j${i}`, kind: 'message', reprintOf: null }),
    ),
  );

  // The store's scripts, as it runs them.
  const scripts: string[][] = [];
  const client = db.sql as SqliteClient;
  const exclusive = client.exclusive.bind(client);
  client.exclusive = (<T>(fn: (session: SqliteSession) => Promise<T>) =>
    exclusive((session) =>
      fn({
        ...session,
        execTransaction: (statements) => {
          scripts.push([...statements]);
          return session.execTransaction(statements);
        },
      }),
    )) as typeof client.exclusive;
  // One tick: one batch of many moves of each kind (a refused move included), then of inserts and moves together.
  await Promise.all(jobs.slice(0, 40).map((job) => store.transition({ id: job.id, to: 'sent', at: new Date() })));
  await Promise.all([
    ...jobs
      .slice(0, 20)
      .map((job) => store.transition({ id: job.id, to: 'received', at: new Date(), uid: job.uid, printerId: 'p0' })),
    ...Array.from({ length: 5 }, (_, i) =>
      store.insert({ printerId: 'p1', content: `new ${i}`, kind: 'message', reprintOf: null }),
    ),
  ]);
  client.exclusive = exclusive;

  const statements = scripts.flat();
  assert.ok(
    statements.filter((s) => s.startsWith('UPDATE')).length >= 2,
    `moves were batched: ${scripts.length} scripts`,
  );
  assert.ok(
    statements.some((s) => s.startsWith('INSERT')),
    'inserts were batched',
  );
  for (const sql of statements) {
    const plan = (await db.sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, [])).map((r) => r.detail);
    const text = plan.join('; ');
    assert.doesNotMatch(
      text,
      /print_jobs USING (COVERING )?INDEX print_jobs_status|SCAN print_jobs\b/,
      `${sql}\n→ ${text}`,
    );
    if (sql.startsWith('UPDATE')) {
      assert.match(text, /SEARCH print_jobs USING INTEGER PRIMARY KEY \(rowid=\?\)/, text);
      assert.match(plan[0]!, /json_each/, `the batch's rows drive the join: ${text}`);
    }
  }
});
