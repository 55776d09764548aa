/**
 * Values as SQL text (db/sql-literal.ts) and the scripts that carry them (SqliteSession#execTransaction), on
 * a real SQLite file: any string round-trips byte for byte and is never read as SQL; a failing script leaves
 * nothing written and no transaction open; nothing else runs on the connection during a turn.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import sqlite3 from 'sqlite3';
import { SqliteClient } from '../../../broker-server/db/sql-client';
import { sqliteJsonRows, sqliteLiteral, type SqlLiteralValue } from '../../../broker-server/db/sql-literal';
import { tempDir } from '../../support/harness';

/** `(a, b, …)`: one row of a VALUES list, each value its literal. */
const sqliteTuple = (values: readonly SqlLiteralValue[]): string => `(${values.map(sqliteLiteral).join(', ')})`;

/** Text UTF-8 can carry (no lone surrogate half). */
const wellFormed = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;

async function client(t: TestContext): Promise<SqliteClient> {
  const file = path.join(tempDir(t), 'literal.sqlite');
  const sql = new SqliteClient(
    () =>
      new Promise((resolve, reject) => {
        const db = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(db)));
      }),
    (db) => new Promise((resolve) => db.close(() => resolve())),
  );
  t.after(() => sql.close());
  await sql.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)');
  return sql;
}

interface StoredRow {
  v: string;
  n: number | null;
  kind: string;
  bytes: number;
}

/** The rows of `t` from id `first` on: each value, its type, its length in bytes, and `n` beside it. */
const readBack = (sql: SqliteClient, first: number): Promise<StoredRow[]> =>
  sql.all<StoredRow>(
    'SELECT v, n, typeof(v) AS kind, length(CAST(v AS BLOB)) AS bytes FROM t WHERE id >= $1 ORDER BY id',
    [first],
  );

/** Each row holds its expected string as text, byte for byte, and `n(i)` beside it. */
function assertStored(back: StoredRow[], expected: string[], n: (i: number) => number | null): void {
  assert.deepEqual(
    back.map((r) => r.v),
    expected,
  );
  for (const [i, row] of back.entries()) {
    assert.equal(row.kind, 'text');
    assert.equal(row.bytes, Buffer.byteLength(expected[i]!, 'utf8'), 'every byte, NUL included');
    assert.equal(row.n, n(i));
  }
}

/** Strings a user may send: any well-formed text, and the ones that break quoting. */
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }).filter(wellFormed),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(
    '',
    "'",
    "''",
    "'); DROP TABLE t; --",
    '"; DELETE FROM t; --',
    'a\u0000b',
    '\u0000',
    "X'00'",
    '$1 ?1 :a @a',
    '; COMMIT; BEGIN',
    '\\',
    '\u{1F9FE} reçu €',
  ),
);

test('any string round-trips byte for byte through a script, and none is read as SQL', async (t) => {
  const sql = await client(t);
  let id = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(nasty, { minLength: 1, maxLength: 5 }), async (values) => {
      const first = id + 1;
      const rows = values.map((v) => sqliteTuple([++id, v, id * 7]));
      await sql.exclusive((s) => s.execTransaction([`INSERT INTO t (id, v, n) VALUES ${rows.join(', ')}`]));
      assertStored(await readBack(sql, first), values, (i) => (first + i) * 7);
    }),
    { numRuns: 150 },
  );
  assert.equal((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n, id, 'the table is whole');
});

test('rows as one JSON literal (json_each): any string round-trips byte for byte, none is read as SQL, a lone surrogate half becomes U+FFFD', async (t) => {
  const sql = await client(t);
  let id = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(nasty, fc.string({ unit: 'binary', maxLength: 20 })), { minLength: 1, maxLength: 5 }),
      async (values) => {
        const first = id + 1;
        const rows = values.map((v) => [++id, v, v.length % 2 ? null : id * 7]);
        await sql.exclusive((s) =>
          s.execTransaction([
            `INSERT INTO t (id, v, n) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(${sqliteJsonRows(rows)})`,
          ]),
        );
        // What sqliteLiteral writes for the same strings: their UTF-8 (a lone half is U+FFFD there too).
        const utf8 = values.map((v) => Buffer.from(v, 'utf8').toString('utf8'));
        assertStored(await readBack(sql, first), utf8, (i) => (values[i]!.length % 2 ? null : (first + i) * 7));
      },
    ),
    { numRuns: 150 },
  );
  assert.equal((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n, id, 'the table is whole');
  assert.equal(sqliteJsonRows([["it's", null, 3]]), `'[["it''s",null,3]]'`);
  for (const bad of [1.5, Number.NaN, 2 ** 53]) assert.throws(() => sqliteJsonRows([[bad]]), /not a safe integer/);
  assert.throws(() => sqliteJsonRows([[true as never]]), /no SQL literal/);
});

test('only safe integers, strings and null have a literal', () => {
  assert.equal(sqliteLiteral(null), 'NULL');
  assert.equal(sqliteLiteral(-42), '-42');
  assert.equal(sqliteLiteral("'"), "CAST(X'27' AS TEXT)");
  for (const bad of [1.5, Number.NaN, Infinity, 2 ** 53, -(2 ** 53)])
    assert.throws(() => sqliteLiteral(bad), /not a safe integer/);
  assert.throws(() => sqliteLiteral(true as never), /no SQL literal/);
});

test('a script that fails part-way writes nothing and leaves no transaction open; others wait for the turn', async (t) => {
  const sql = await client(t);
  await sql.run('INSERT INTO t (id, v) VALUES (1, $1)', ['one']);
  await assert.rejects(
    sql.exclusive((s) =>
      s.execTransaction([
        `INSERT INTO t (id, v) VALUES ${sqliteTuple([2, 'two'])}`,
        `INSERT INTO t (id, v) VALUES ${sqliteTuple([1, 'again'])}`,
      ]),
    ),
    /UNIQUE constraint failed/,
  );
  assert.deepEqual(await sql.all('SELECT id, v FROM t ORDER BY id'), [{ id: 1, v: 'one' }], 'rolled back whole');
  // No transaction left open: a new one begins, and what it commits stays.
  await sql.exclusive((s) => s.execTransaction([`INSERT INTO t (id, v) VALUES ${sqliteTuple([3, 'three'])}`]));
  await sql.transaction((tx) => tx.run('INSERT INTO t (id, v) VALUES ($1, $2)', [4, 'four']));
  assert.deepEqual(
    (await sql.all<{ id: number }>('SELECT id FROM t ORDER BY id')).map((r) => r.id),
    [1, 3, 4],
  );
  // During a turn, statements of the client wait: a read never lands between the script and what follows it.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const turn = sql.exclusive(async (s) => {
    await s.execTransaction([`INSERT INTO t (id, v) VALUES ${sqliteTuple([5, 'five'])}`]);
    entered();
    await held;
    await s.run('DELETE FROM t WHERE id = 5');
  });
  await inside;
  let read: number[] | null = null;
  const reading = sql
    .all<{ id: number }>('SELECT id FROM t ORDER BY id')
    .then((rows) => (read = rows.map((r) => r.id)));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(read, null, 'the read waits for the turn to end');
  release();
  await turn;
  await reading;
  assert.deepEqual(read, [1, 3, 4]);
});
