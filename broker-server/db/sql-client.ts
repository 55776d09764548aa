/**
 * One way to run SQL on either database: `all`, `get`, `run` and `transaction`, on the connections Sequelize
 * opened (Sequelize keeps the connection settings and the migrations). Every store speaks SQL through this.
 *
 * Statements are written once for both dialects, with `$1, $2, …` placeholders, and prepared once per SQL
 * text on the raw connection: sqlite3's `Database#prepare` on SQLite (`$n` becomes `?n`, so a number may
 * repeat), a named prepared statement of node-postgres on PostgreSQL (prepared on each pooled connection the
 * first time that connection runs it). SQL whose text is made per call (a list of N placeholders) belongs in
 * a fixed text (arrays: `unnest` on PostgreSQL, `json_each` on SQLite), so the cache stays small; past
 * MAX_PREPARED texts, statements run unprepared.
 *
 * Dates are stored as Sequelize stores them (its migrations made the columns): on SQLite the text
 * `YYYY-MM-DD HH:MM:SS.SSS +00:00`, on PostgreSQL `timestamptz`. `sqlDate` and `isoFromSql` are the one
 * place that format is written and read.
 */
import type pg from 'pg';
import type { Sequelize } from 'sequelize';
import sqlite3 from 'sqlite3';

type ConnectionManager = Sequelize['connectionManager'];

export type Dialect = 'sqlite' | 'postgres';

/** A date as a column holds it: SQLite's text, or a Date from PostgreSQL. */
export type SqlDate = string | Date;

/** Statements on one connection, or inside one transaction. */
export interface SqlRunner {
  /** Every row the statement gives (a SELECT, or a write with RETURNING). */
  all<T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T extends object>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs a write; resolves with how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface SqlClient extends SqlRunner {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one transaction (BEGIN IMMEDIATE on SQLite: it takes the write lock first), committed when
   * `fn` resolves and rolled back when it throws. Statements inside go through `tx`; on SQLite other
   * statements of this client wait until it ends, so none lands inside it by accident.
   */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** `d` as this dialect stores and compares it. */
  date(d: Date): SqlDate;
  /** Finalizes the prepared statements (before the connection closes). */
  close(): Promise<void>;
}

/** How many SQL texts a client keeps prepared. */
export const MAX_PREPARED = 256;

/** `d` as a column of this dialect holds it (Sequelize's SQLite text: the one place it is written). */
export function sqlDate(dialect: Dialect, d: Date): SqlDate {
  return dialect === 'postgres' ? d : d.toISOString().replace('T', ' ').replace('Z', ' +00:00');
}

/** A column's date as ISO text: SQLite's own text is rearranged, not parsed; anything else goes through Date. */
export function isoFromSql(d: SqlDate): string;
export function isoFromSql(d: SqlDate | null): string | null;
export function isoFromSql(d: SqlDate | null): string | null {
  if (d === null) return null;
  if (d instanceof Date) return d.toISOString();
  // `2026-12-06 12:00:00.123 +00:00` → `2026-12-06T12:00:00.123Z`
  if (d.length === 30 && d[10] === ' ' && d.endsWith(' +00:00')) return `${d.slice(0, 10)}T${d.slice(11, 23)}Z`;
  return new Date(d.replace(' ', 'T').replace(' +00:00', 'Z')).toISOString();
}

/**
 * Shared (single statements) and exclusive (a transaction) turns on one connection, first come first
 * served: a transaction starts once the statements before it are done, and statements after it wait.
 */
class Turns {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: Array<{ exclusive: boolean; go: () => void }> = [];

  async take<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.exclusive || this.waiting.length || (exclusive && this.shared > 0))
      await new Promise<void>((go) => this.waiting.push({ exclusive, go }));
    else this.enter(exclusive);
    try {
      return await fn();
    } finally {
      if (exclusive) this.exclusive = false;
      else this.shared--;
      this.wake();
    }
  }

  private enter(exclusive: boolean): void {
    if (exclusive) this.exclusive = true;
    else this.shared++;
  }

  private wake(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      if (this.exclusive || (next.exclusive && this.shared > 0)) return;
      this.waiting.shift();
      this.enter(next.exclusive);
      next.go();
      if (next.exclusive) return;
    }
  }
}

/** Statements on the SQLite connection during an exclusive turn (SqliteClient#exclusive). */
export interface SqliteSession extends SqlRunner {
  /**
   * `BEGIN IMMEDIATE; <statements>; COMMIT` in ONE call to sqlite3_exec: one thread-pool job for the whole
   * transaction, parsed on the pool thread. No parameters and no rows: every value in `statements` must be
   * a literal of db/sql-literal.ts. On any error the transaction is rolled back (none is left open on the
   * connection) and the error is thrown; resolves once COMMIT succeeded.
   */
  execTransaction(statements: readonly string[]): Promise<void>;
}

/** SQLite through sqlite3 on a connection `connect` gives (Sequelize's, or one opened for reading). */
export class SqliteClient implements SqlClient {
  readonly dialect = 'sqlite' as const;
  private connection: Promise<sqlite3.Database> | null = null;
  private readonly statements = new Map<string, Promise<sqlite3.Statement>>();
  private readonly turns = new Turns();
  private readonly direct: SqlRunner = {
    all: (sql, params) => this.allNow(sql, params),
    get: async (sql, params) => (await this.allNow(sql, params))[0] as never,
    run: (sql, params) => this.runNow(sql, params),
  };
  private closed = false;

  /** `connect` is called once, on first use; `release` (if given) runs at close, after the statements are finalized. */
  constructor(
    private readonly connect: () => Promise<sqlite3.Database>,
    private readonly release?: (db: sqlite3.Database) => Promise<void>,
  ) {}

  /** A read-only connection of its own to `file`: in WAL mode it sees the last commit only and never blocks the writer. */
  static readOnly(file: string): SqliteClient {
    return new SqliteClient(
      () =>
        new Promise((resolve, reject) => {
          const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
            if (err) return reject(err);
            db.configure('busyTimeout', 5000);
            resolve(db);
          });
        }),
      (db) => new Promise((resolve) => db.close(() => resolve())),
    );
  }

  date(d: Date): SqlDate {
    return sqlDate('sqlite', d);
  }

  all<T extends object>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.turns.take(false, () => this.allNow<T>(sql, params));
  }

  async get<T extends object>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    // Through `all`: sqlite3's Statement#get leaves the statement open (and its read transaction with it).
    return (await this.all<T>(sql, params))[0];
  }

  run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.turns.take(false, () => this.runNow(sql, params));
  }

  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.turns.take(true, async () => {
      await this.runNow('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await fn(this.direct);
        await this.runNow('COMMIT');
      } catch (err) {
        await this.runNow('ROLLBACK').catch(() => undefined);
        throw err;
      }
      return result;
    });
  }

  /**
   * Runs `fn` alone on the connection: statements of this client asked for meanwhile wait until it ends, as
   * for `transaction`. `fn` may commit a script (`execTransaction`) and read after it, in one turn.
   */
  exclusive<T>(fn: (session: SqliteSession) => Promise<T>): Promise<T> {
    return this.turns.take(true, () =>
      fn({
        ...this.direct,
        execTransaction: (statements) => this.execTransaction(statements),
      }),
    );
  }

  private async execTransaction(statements: readonly string[]): Promise<void> {
    const db = await this.db();
    const script = `BEGIN IMMEDIATE;\n${statements.join(';\n')};\nCOMMIT;`;
    try {
      await new Promise<void>((resolve, reject) => db.exec(script, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      // sqlite3_exec stops at the failing statement: BEGIN itself (nothing open), one inside, or COMMIT
      // (SQLITE_BUSY, a full disk). ROLLBACK closes whatever is open; "no transaction is active" is fine.
      await new Promise<void>((resolve) => db.exec('ROLLBACK', () => resolve()));
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const statements = [...this.statements.values()];
    this.statements.clear();
    await Promise.all(
      statements.map(async (pending) => {
        const statement = await pending.catch(() => null);
        if (statement) await new Promise<void>((resolve) => statement.finalize(() => resolve()));
      }),
    );
    const connection = await this.connection?.catch(() => null);
    this.connection = null;
    if (connection && this.release) await this.release(connection);
  }

  private db(): Promise<sqlite3.Database> {
    if (this.closed) return Promise.reject(new Error('the SQL client is closed'));
    this.connection ??= this.connect();
    return this.connection;
  }

  /** The prepared statement of `sql` (made once), or null when the cache is full. */
  private async statement(sql: string): Promise<sqlite3.Statement | null> {
    let pending = this.statements.get(sql);
    if (!pending) {
      if (this.statements.size >= MAX_PREPARED) return null;
      const db = await this.db();
      pending = this.statements.get(sql);
      if (!pending) {
        pending = new Promise<sqlite3.Statement>((resolve, reject) => {
          const statement = db.prepare(toSqlite(sql), (err) => (err ? reject(err) : resolve(statement)));
        });
        this.statements.set(sql, pending);
        // A statement that does not prepare (bad SQL, a table not there yet) is tried again next time.
        pending.catch(() => this.statements.delete(sql));
      }
    }
    return pending;
  }

  private async allNow<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const statement = await this.statement(sql);
    if (!statement) {
      const db = await this.db();
      return new Promise((resolve, reject) =>
        db.all(toSqlite(sql), params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
      );
    }
    return new Promise((resolve, reject) =>
      statement.all(params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
    );
  }

  private async runNow(sql: string, params: readonly unknown[] = []): Promise<number> {
    const statement = await this.statement(sql);
    const target = statement ?? (await this.db());
    const text = statement ? undefined : toSqlite(sql);
    return new Promise((resolve, reject) => {
      const done = function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve(this.changes);
      };
      if (statement) statement.run(params, done);
      else (target as sqlite3.Database).run(text!, params, done);
    });
  }
}

/** `$1` → `?1`: SQLite's numbered parameters, so that one value may appear several times. */
/** A statement's `$n` placeholders as sqlite3's numbered `?n`. */
export const toSqlite = (sql: string): string => sql.replace(/\$(\d+)/g, '?$1');

/** PostgreSQL through node-postgres, on the pool of Sequelize's connection manager. */
export class PostgresClient implements SqlClient {
  readonly dialect = 'postgres' as const;
  private readonly names = new Map<string, string>();
  private readonly direct = (client: pg.Client): SqlRunner => ({
    all: async (sql, params) => (await this.query(client, sql, params)).rows as never,
    get: async (sql, params) => (await this.query(client, sql, params)).rows[0] as never,
    run: async (sql, params) => (await this.query(client, sql, params)).rowCount ?? 0,
  });

  constructor(private readonly manager: ConnectionManager) {}

  date(d: Date): SqlDate {
    return sqlDate('postgres', d);
  }

  all<T extends object>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.withConnection(async (client) => (await this.query(client, sql, params)).rows as T[]);
  }

  async get<T extends object>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.withConnection(async (client) => (await this.query(client, sql, params)).rowCount ?? 0);
  }

  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.withConnection(async (client) => {
      await client.query('BEGIN');
      let result: T;
      try {
        result = await fn(this.direct(client));
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      return result;
    });
  }

  /** Runs `fn` on one pooled connection of its own (released afterwards), e.g. for a session lock. */
  async withConnection<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = (await this.manager.getConnection({ type: 'write' })) as pg.Client;
    try {
      return await fn(client);
    } finally {
      this.manager.releaseConnection(client);
    }
  }

  async close(): Promise<void> {
    // Prepared statements live on the pool's connections and end with them.
  }

  private query(client: pg.Client, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult> {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < MAX_PREPARED) {
      name = `printhop_${this.names.size + 1}`;
      this.names.set(text, name);
    }
    return client.query({ text, values: values as unknown[], ...(name ? { name } : {}) });
  }
}
