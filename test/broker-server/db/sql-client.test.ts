/**
 * SqlClient on real databases: a SQLite file in a temp dir (on a raw sqlite3 connection, and as the
 * Database builds it over Sequelize's) and, where PostgreSQL is installed, a new PostgreSQL database.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import sqlite3 from 'sqlite3';
import { isoFromSql, type SqlClient, SqliteClient, sqlDate } from '../../../broker-server/db/sql-client';
import { startTestDatabase, tempDir, testEachDatabase } from '../../support/harness';
import { postgresMissing } from '../../support/services';

/** A client on a fresh SQLite file whose connection counts the statements it prepares. */
function countingSqlite(dir: string): { client: SqliteClient; prepared: string[] } {
  const prepared: string[] = [];
  const client = new SqliteClient(
    () =>
      new Promise((resolve, reject) => {
        const db = new sqlite3.Database(path.join(dir, 'test.sqlite'), (err) => (err ? reject(err) : resolve(db)));
        const prepare = db.prepare.bind(db) as (
          sql: string,
          callback: (err: Error | null) => void,
        ) => sqlite3.Statement;
        db.prepare = ((sql: string, callback: (err: Error | null) => void) => {
          prepared.push(sql);
          return prepare(sql, callback);
        }) as typeof db.prepare;
      }),
    (db) => new Promise((resolve) => db.close(() => resolve())),
  );
  return { client, prepared };
}

test('SQLite: a statement is prepared once per SQL text, and $n may repeat and come in any order', async (t) => {
  const { client, prepared } = countingSqlite(tempDir(t));
  t.after(() => client.close());
  await client.run('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)');
  for (let i = 0; i < 5; i++) await client.run('INSERT INTO t (name) VALUES ($1)', [`n${i}`]);
  const rows = await Promise.all(
    [1, 2, 3].map((id) => client.get<{ name: string }>('SELECT name FROM t WHERE id = $1', [id])),
  );
  assert.deepEqual(
    rows.map((r) => r?.name),
    ['n0', 'n1', 'n2'],
  );
  assert.equal(prepared.filter((sql) => sql.startsWith('INSERT')).length, 1, 'five inserts, one statement');
  assert.equal(prepared.filter((sql) => sql.startsWith('SELECT name')).length, 1);
  assert.deepEqual(await client.get('SELECT $2 AS b, $1 AS a, $2 AS c', ['one', 'two']), {
    b: 'two',
    a: 'one',
    c: 'two',
  });
  assert.equal(await client.run('UPDATE t SET name = $1 WHERE id > $2', ['x', 3]), 2, 'run gives the rows changed');
  await assert.rejects(client.all('SELECT nope FROM t'), /no such column/);
  await assert.rejects(
    client.all('SELECT nope FROM t'),
    /no such column/,
    'a statement that failed to prepare is not cached',
  );
});

test('SQLite: statements outside a transaction wait for it, so none lands inside it (and is rolled back with it)', async (t) => {
  const { client } = countingSqlite(tempDir(t));
  t.after(() => client.close());
  await client.run('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)');
  let inside!: () => void;
  const entered = new Promise<void>((resolve) => (inside = resolve));
  let fail!: () => void;
  const failing = new Promise<void>((resolve) => (fail = resolve));
  const tx = client.transaction(async (sql) => {
    await sql.run('INSERT INTO t (name) VALUES ($1)', ['rolled back']);
    inside();
    await failing;
    throw new Error('the batch failed');
  });
  await entered;
  // Issued while the transaction is open: they run after the rollback, so the read never sees the
  // rolled-back row, and the write is not undone with the transaction.
  const outsideRead = client.all<{ name: string }>('SELECT name FROM t');
  const outsideWrite = client.run('INSERT INTO t (name) VALUES ($1)', ['kept']);
  fail();
  await assert.rejects(tx, /the batch failed/);
  assert.ok(!(await outsideRead).some((r) => r.name === 'rolled back'), 'the read ran after the rollback');
  assert.equal(await outsideWrite, 1);
  assert.deepEqual(await client.all('SELECT name FROM t'), [{ name: 'kept' }]);
});

testEachDatabase('a transaction commits what it wrote, or rolls all of it back when it throws', async (t, dialect) => {
  const db = await startTestDatabase(t, dialect);
  const sql: SqlClient = db.sql;
  await sql.run('CREATE TABLE sql_client_test (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  const committed = await sql.transaction(async (tx) => {
    await tx.run('INSERT INTO sql_client_test (id, name) VALUES ($1, $2)', [1, 'one']);
    return tx.all<{ name: string }>('SELECT name FROM sql_client_test');
  });
  assert.deepEqual(committed, [{ name: 'one' }], 'a transaction reads its own writes');
  await assert.rejects(
    sql.transaction(async (tx) => {
      await tx.run('INSERT INTO sql_client_test (id, name) VALUES ($1, $2)', [2, 'two']);
      await tx.run('INSERT INTO sql_client_test (id, name) VALUES ($1, $2)', [1, 'duplicate']);
    }),
  );
  assert.deepEqual(await sql.all('SELECT id, name FROM sql_client_test ORDER BY id'), [{ id: 1, name: 'one' }]);
  // The client is usable after a rollback, in and out of transactions.
  assert.equal(await sql.transaction((tx) => tx.run('UPDATE sql_client_test SET name = $1', ['uno'])), 1);
  assert.deepEqual(await sql.get('SELECT name FROM sql_client_test WHERE id = $1', [1]), { name: 'uno' });
  assert.equal(await sql.get('SELECT name FROM sql_client_test WHERE id = $1', [9]), undefined);
});

test(
  'PostgreSQL: a statement is prepared once per SQL text on a connection (a named prepared statement)',
  { skip: postgresMissing() },
  async (t) => {
    const db = await startTestDatabase(t, 'postgres');
    const text = 'SELECT $1::int + 1 AS n';
    const prepared = await db.sql.transaction(async (tx) => {
      for (let i = 0; i < 3; i++) assert.deepEqual(await tx.get(text, [i]), { n: i + 1 });
      return tx.all<{ name: string }>('SELECT name FROM pg_prepared_statements WHERE statement = $1', [text]);
    });
    assert.equal(prepared.length, 1, 'three runs, one prepared statement');
  },
);

test('dates: one format per dialect, read back as ISO text without parsing SQLite’s own text', () => {
  const d = new Date('2026-12-06T12:34:56.789Z');
  assert.equal(sqlDate('sqlite', d), '2026-12-06 12:34:56.789 +00:00');
  assert.equal(sqlDate('postgres', d), d);
  assert.equal(isoFromSql(sqlDate('sqlite', d)), d.toISOString());
  assert.equal(isoFromSql(d), d.toISOString());
  assert.equal(isoFromSql(null), null);
  // Text in another shape (an older row) still goes through Date.
  assert.equal(isoFromSql('2026-12-06 12:34:56 +00:00'), '2026-12-06T12:34:56.000Z');
});
