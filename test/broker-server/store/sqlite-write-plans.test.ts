/**
 * The SQLite store's batch statements, asked of SQLite's planner on a table where most jobs wait in one status: a
 * batch's moves find each job by its id, whatever the number of rows in the batch's JSON (json_each, whose size the
 * planner does not know), and never walk the jobs of a status. Without `+status` in the UPDATE
 * (store/sqlite-print-store.ts updateSql) the planner took the status index first and scanned the batch's rows for
 * every job waiting in that status. Both forms are asked: a script (SqliteSession#execTransaction: a batch that moves
 * one job twice), and the statements of the trigger of a batch in one statement (`batchStatements`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SqliteClient, SqliteSession } from '../../../broker-server/db/sql-client';
import { batchStatements } from '../../../broker-server/store/sqlite-print-store';
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
  // Each job moves once in each: each is one statement, no script.
  await Promise.all(jobs.slice(0, 40).map((job) => store.transition({ id: job.id, to: 'sent', at: new Date() })));
  await Promise.all([
    ...jobs
      .slice(0, 20)
      .map((job) => store.transition({ id: job.id, to: 'received', at: new Date(), uid: job.uid, printerId: 'p0' })),
    ...Array.from({ length: 5 }, (_, i) =>
      store.insert({ printerId: 'p1', content: `new ${i}`, kind: 'message', reprintOf: null }),
    ),
  ]);
  assert.equal(scripts.length, 0, 'batches of one round are one statement, not a script');
  // Jobs that move twice in one batch (sent, then received): a script, its rounds in order.
  await Promise.all([
    ...Array.from({ length: 3 }, (_, i) =>
      store.insert({ printerId: 'p2', content: `more ${i}`, kind: 'message', reprintOf: null }),
    ),
    ...jobs
      .slice(40, 80)
      .flatMap((job) => [
        store.transition({ id: job.id, to: 'sent', at: new Date() }),
        store.transition({ id: job.id, to: 'received', at: new Date(), uid: job.uid }),
      ]),
  ]);
  client.exclusive = exclusive;
  assert.equal((await store.get(jobs[79]!.id))?.status, 'received');

  const statements = [
    ...scripts.flat(),
    // The trigger's statements, each kind's rows bound where the trigger reads a column of its new row.
    ...batchStatements(() => '$1', '$2'),
  ];
  assert.ok(
    scripts.flat().filter((s) => s.startsWith('UPDATE')).length >= 2,
    `moves were batched: ${scripts.length} scripts`,
  );
  assert.ok(
    statements.some((s) => s.startsWith('INSERT')),
    'inserts were batched',
  );
  for (const sql of statements) {
    const plan = (
      await db.sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, sql.includes('$1') ? ['[]', 'now'] : [])
    ).map((r) => r.detail);
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
