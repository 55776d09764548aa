/**
 * The job store on SQLite. Job writes go through the group commit, one transaction per batch on the
 * database's one writing connection (a batch of one runs in autocommit, without BEGIN/COMMIT). A batch is
 * written in chunks of 1, 2, 4, … 128 rows, so a handful of statement texts, each prepared once, serve
 * every batch size.
 */
import type { SqlRunner } from '../db/sql-client';
import { statementChunks as chunks } from '../db/statement-chunks';
import type { JobStatus } from '../../protocol/states';
import { finishes, STAMPS, statusesBefore, withUid, writesError } from './job-rules';
import type { NewJob, TransitionRequest } from './print-store';
import type { JobRow } from './job-rows';
import { changedAny, SqlPrintStore, type WrittenBatch } from './sql-print-store';

/** `(${first}, …)` tuples: `rows` of `width` numbered placeholders, from `$first`. */
const tuples = (rows: number, width: number, first: number): string =>
  Array.from(
    { length: rows },
    (_, r) => `(${Array.from({ length: width }, (_, c) => `$${first + r * width + c}`).join(', ')})`,
  ).join(', ');

const INSERT_WIDTH = 6;
const UPDATE_WIDTH = 5;

/** The INSERT of `rows` jobs: $1 the time, then per job uid, printer_id, content, kind, reprint_of, created_by. */
const insertSql = (rows: number): string =>
  `INSERT INTO print_jobs (uid, printer_id, content, kind, reprint_of, created_by, status, created_at, updated_at)
  SELECT column1, column2, column3, column4, column5, column6, 'pending', $1, $1 FROM (VALUES ${tuples(rows, INSERT_WIDTH, 2)})
  RETURNING *`;

/**
 * The UPDATE of `rows` jobs to one status: $1 the status, $2 the time, $3 the statuses it may move from
 * (JSON), then per job id, printer_id or null, uid or null, at, error. Only rows in one of those statuses
 * move, so an ack applies once.
 */
function updateSql(to: JobStatus, rows: number): string {
  const sets = ['status = $1', 'updated_at = $2'];
  const stamp = STAMPS[to];
  if (stamp) sets.push(`${stamp.column} = v.at`);
  if (finishes(to)) sets.push('finished_at = v.at');
  if (writesError(to)) sets.push('error = v.error');
  return `UPDATE print_jobs SET ${sets.join(', ')}
  FROM (SELECT column1 AS id, column2 AS printer_id, column3 AS uid, column4 AS at, column5 AS error
    FROM (VALUES ${tuples(rows, UPDATE_WIDTH, 4)})) AS v
  WHERE print_jobs.id = v.id AND (v.printer_id IS NULL OR print_jobs.printer_id = v.printer_id)
    AND (v.uid IS NULL OR print_jobs.uid = v.uid) AND print_jobs.status IN (SELECT value FROM json_each($3))
  RETURNING *`;
}

/** Statement texts made once per shape. */
const texts = new Map<string, string>();
const text = (key: string, make: () => string): string => {
  let sql = texts.get(key);
  if (sql === undefined) texts.set(key, (sql = make()));
  return sql;
};

export class SqlitePrintStore extends SqlPrintStore {
  protected async writeBatch(inserts: NewJob[], rounds: TransitionRequest[][]): Promise<WrittenBatch> {
    const single = inserts.length + rounds.reduce((n, r) => n + r.length, 0) === 1;
    // One write alone commits by itself; the event id read after it is still its own, as this
    // connection is the only writer of jobs and the group commit runs one batch at a time.
    return single
      ? this.write(this.sql, inserts, rounds)
      : this.sql.transaction((tx) => this.write(tx, inserts, rounds));
  }

  private async write(tx: SqlRunner, inserts: NewJob[], rounds: TransitionRequest[][]): Promise<WrittenBatch> {
    const inserted = inserts.length ? await this.insertRows(tx, inserts) : [];
    const updated: Array<Array<JobRow | null>> = [];
    for (const round of rounds) updated.push(await this.updateRows(tx, round));
    // The newest id is this batch's last event (the triggers wrote them in this transaction).
    const last = changedAny({ inserted, updated })
      ? await tx.get<{ last: number }>('SELECT MAX(id) AS last FROM job_events')
      : undefined;
    return { inserted, updated, lastEventId: last ? Number(last.last) : null };
  }

  private async insertRows(tx: SqlRunner, jobs: NewJob[]): Promise<JobRow[]> {
    const now = this.sqlDate(new Date());
    const rows: JobRow[] = [];
    for (const chunk of chunks(jobs)) {
      const params: unknown[] = [now];
      for (const job of chunk)
        params.push(withUid(job).uid, job.printerId, job.content, job.kind, job.reprintOf, job.createdBy ?? null);
      rows.push(
        ...(await tx.all<JobRow>(
          text(`i${chunk.length}`, () => insertSql(chunk.length)),
          params,
        )),
      );
    }
    // RETURNING gives rows in insertion order; sort by id to be certain.
    return rows.sort((a, b) => a.id - b.id);
  }

  /** One UPDATE per target status; each request's job id appears once in `requests`. */
  private async updateRows(tx: SqlRunner, requests: TransitionRequest[]): Promise<Array<JobRow | null>> {
    const byId = new Map<number, JobRow>();
    const groups = new Map<JobStatus, TransitionRequest[]>();
    for (const r of requests) {
      const group = groups.get(r.to);
      if (group) group.push(r);
      else groups.set(r.to, [r]);
    }
    const now = this.sqlDate(new Date());
    for (const [to, group] of groups)
      for (const chunk of chunks(group)) {
        const params: unknown[] = [to, now, text(`f${to}`, () => JSON.stringify(statusesBefore(to)))];
        for (const r of chunk)
          params.push(r.id, r.printerId ?? null, r.uid ?? null, this.sqlDate(r.at), r.error ?? null);
        const sql = text(`u${to}${chunk.length}`, () => updateSql(to, chunk.length));
        for (const row of await tx.all<JobRow>(sql, params)) byId.set(row.id, row);
      }
    return requests.map((r) => byId.get(r.id) ?? null);
  }
}
