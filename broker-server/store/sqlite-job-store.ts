/**
 * The job store on SQLite. Job writes go through the group commit in plain SQL on the connection
 * Sequelize manages (Sequelize cannot read rows back from a multi-row `INSERT … RETURNING` on SQLite);
 * a batch of one skips BEGIN/COMMIT.
 */
import type { Sequelize } from 'sequelize';
import sqlite3 from 'sqlite3';
import { finishes, STAMPS, statusesBefore, withUid, writesError } from './job-rules';
import type { NewJob, TransitionRequest } from './job-store';
import type { JobRow } from './job-rows';
import { SqlJobStore } from './sql-job-store';

interface SqliteConnection {
  all(sql: string, params: unknown[], callback: (err: Error | null, rows: unknown[]) => void): void;
  run(sql: string, params: unknown[], callback: (err: Error | null) => void): void;
}

/** Sequelize stores SQLite dates as `YYYY-MM-DD HH:MM:SS.SSS +00:00`; rows written here must match. */
function toSqliteDate(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', ' +00:00');
}

export class SqliteJobStore extends SqlJobStore {
  private connection: SqliteConnection | null = null;
  /** The event log's reader (see selectEvents); null until first used. */
  private reader: Promise<sqlite3.Database> | null = null;

  constructor(
    sequelize: Sequelize,
    /** The database file; null for an in-memory database, which has one connection only. */
    private readonly file: string | null = null,
  ) {
    super(sequelize);
  }

  /**
   * The event log is read on a read-only connection of its own. The shared connection may be inside a
   * batch's open transaction (group commit), whose rows it would see before they are committed; in WAL
   * mode a second connection sees the last commit only, and never blocks the writer.
   */
  protected override async selectEvents<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    if (!this.file) return super.selectEvents<T>(sql, bind);
    const file = this.file;
    this.reader ??= new Promise((resolve, reject) => {
      const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
        if (err) return reject(err);
        db.configure('busyTimeout', 5000);
        resolve(db);
      });
    });
    const db = await this.reader;
    return new Promise((resolve, reject) =>
      db.all(sql.replace(/\$\d+/g, '?'), bind, (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
    );
  }

  override async close(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    if (reader) {
      const db = await reader.catch(() => null);
      await new Promise<void>((resolve) => (db ? db.close(() => resolve()) : resolve()));
    }
  }

  protected sqlDate(d: Date): string {
    return toSqliteDate(d);
  }

  protected async writeBatch(
    inserts: NewJob[],
    rounds: TransitionRequest[][],
  ): Promise<{ inserted: JobRow[]; updated: Array<Array<JobRow | null>> }> {
    const single = inserts.length + rounds.reduce((n, r) => n + r.length, 0) === 1;
    if (!single) await this.run('BEGIN IMMEDIATE');
    try {
      const inserted = inserts.length ? await this.insertRows(inserts) : [];
      const updated: Array<Array<JobRow | null>> = [];
      for (const round of rounds) updated.push(await this.updateRows(round));
      if (!single) await this.run('COMMIT');
      return { inserted, updated };
    } catch (err) {
      if (!single) await this.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const connection = await this.getConnection();
    return new Promise((resolve, reject) =>
      connection.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
    );
  }

  private async run(sql: string, params: unknown[] = []): Promise<void> {
    const connection = await this.getConnection();
    return new Promise((resolve, reject) => connection.run(sql, params, (err) => (err ? reject(err) : resolve())));
  }

  private async getConnection(): Promise<SqliteConnection> {
    this.connection ??= (await this.sequelize.connectionManager.getConnection({
      uuid: 'default',
    } as never)) as unknown as SqliteConnection;
    return this.connection;
  }

  private async insertRows(jobs: NewJob[]): Promise<JobRow[]> {
    const now = toSqliteDate(new Date());
    const params: unknown[] = [];
    for (const job of jobs)
      params.push(
        withUid(job).uid,
        job.printerId,
        job.content,
        job.kind,
        job.reprintOf,
        job.createdBy ?? null,
        now,
        now,
      );
    const values = jobs.map(() => "(?, ?, ?, ?, 'pending', ?, ?, ?, ?)").join(', ');
    const rows = await this.all<JobRow>(
      `INSERT INTO print_jobs (uid, printer_id, content, kind, status, reprint_of, created_by, created_at, updated_at) VALUES ${values} RETURNING *`,
      params,
    );
    // RETURNING gives rows in insertion order for a single multi-row INSERT; sort by id to be certain.
    return rows.sort((a, b) => a.id - b.id);
  }

  /** One UPDATE per target status; each request's job id appears once in `requests`. */
  private async updateRows(requests: TransitionRequest[]): Promise<Array<JobRow | null>> {
    const result = new Map<TransitionRequest, JobRow | null>();
    const groups = new Map<string, TransitionRequest[]>();
    for (const r of requests) {
      const key = `${r.to}|${r.printerId === undefined ? '' : 'p'}|${r.uid === undefined ? '' : 'u'}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const now = toSqliteDate(new Date());
    for (const group of groups.values()) {
      const to = group[0]!.to;
      const checkPrinter = group[0]!.printerId !== undefined;
      const checkUid = group[0]!.uid !== undefined;
      const from = statusesBefore(to);
      const params: unknown[] = [to, now];
      const sets = ['status = ?', 'updated_at = ?'];
      const byIdCase = (values: unknown[]) => {
        const cases = group.map(() => 'WHEN ? THEN ?').join(' ');
        group.forEach((r, i) => params.push(r.id, values[i]));
        return `CASE id ${cases} END`;
      };
      const at = group.map((r) => toSqliteDate(r.at));
      const stamp = STAMPS[to];
      if (stamp) sets.push(`${stamp.column} = ${byIdCase(at)}`);
      if (finishes(to)) sets.push(`finished_at = ${byIdCase(at)}`);
      if (writesError(to)) sets.push(`error = ${byIdCase(group.map((r) => r.error ?? null))}`);
      // (id), (id, printer_id), (id, uid) or (id, printer_id, uid): what each request says the row must have.
      const columns = ['id', ...(checkPrinter ? ['printer_id'] : []), ...(checkUid ? ['uid'] : [])];
      const tuple = `(${columns.map(() => '?').join(', ')})`;
      let where = `(${columns.join(', ')}) IN (VALUES ${group.map(() => tuple).join(', ')})`;
      for (const r of group) params.push(r.id, ...(checkPrinter ? [r.printerId] : []), ...(checkUid ? [r.uid] : []));
      where += ` AND status IN (${from.map(() => '?').join(', ')})`;
      params.push(...from);
      const rows = await this.all<JobRow>(
        `UPDATE print_jobs SET ${sets.join(', ')} WHERE ${where} RETURNING *`,
        params,
      );
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const r of group) result.set(r, byId.get(r.id) ?? null);
    }
    return requests.map((r) => result.get(r) ?? null);
  }
}
