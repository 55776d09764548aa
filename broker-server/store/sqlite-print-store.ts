/**
 * The job store on SQLite. Job writes go through the group commit, one transaction per batch on the
 * database's one writing connection, in as few trips to sqlite3's thread pool as it takes (each trip is a
 * hand-off to a worker thread and back to the event loop: DESIGN.md "The job write path on SQLite"):
 *
 * 1. The write. A batch of several writes is ONE script, `BEGIN IMMEDIATE; INSERT …; UPDATE …; COMMIT`, run
 *    by one sqlite3_exec (SqliteSession#execTransaction); every value in it is a literal of
 *    db/sql-literal.ts, never text spliced in any other way. The rows of a statement are one JSON literal
 *    that `json_each` reads (`sqliteJsonRows`): one string token for SQLite to parse, where a VALUES list of
 *    literals was an expression per value to parse and plan on the pool thread, and their hex on the main one.
 *    A write alone is one prepared statement in autocommit whose RETURNING answers it, event id included
 *    (`writeOne`): one trip in all.
 * 2. One read after COMMIT, on the same connection in the same turn: the events the log gained since the
 *    newest one this store knew of, each joined with its job. From them come the batch's answers (each
 *    inserted row by its uid, each move's row or null: `answers` below) and the events the log's reader
 *    hands its followers without reading them again (jobs/job-change-log.ts). Each event comes as ONE JSON
 *    text of its row's values (`eventsAsJson`), parsed by JSON.parse, where sqlite3's native code set a row's
 *    18 columns on an object one by one on the main thread.
 *
 * The newest event id is kept here, read once (first batch, or after a failure); events other writers of
 * the file committed meanwhile come back with the read and are handed on with this batch's.
 */
import type { SqlClient, SqliteClient, SqliteSession, SqlRunner } from '../db/sql-client';
import { sqliteJsonRows, sqliteLiteral } from '../db/sql-literal';
import type { JobStatus } from '../../protocol/states';
import { finishes, STAMPS, statusesBefore, withUid, writesError } from './job-rules';
import type { JobEvent, NewJob, PrintJob, TransitionRequest } from './print-store';
import { JOB_COLUMNS, type JobRow, toPrintJob } from './job-rows';
import { type EventRow, EVENTS_AFTER_FROM, SqlPrintStore, toJobEvent, type WrittenBatch } from './sql-print-store';

/** Rows per statement of a script: a batch (up to 1,000 writes) is a few statements. */
const ROWS_PER_STATEMENT = 128;

/** The INSERT of the jobs in `rows`, SQL giving per job uid, printer_id, content, kind, reprint_of, created_by; stamped `now`. */
const insertSql = (now: string, rows: string): string =>
  `INSERT INTO print_jobs (uid, printer_id, content, kind, reprint_of, created_by, status, created_at, updated_at)
  SELECT uid, printer_id, content, kind, reprint_of, created_by, 'pending', ${now}, ${now} FROM (${rows})`;

/** A job alone's values, bound: `$first`…, as the columns insertSql and updateSql read. */
const boundRow = (columns: readonly string[], first: number): string =>
  `SELECT ${columns.map((c, i) => `$${first + i} AS ${c}`).join(', ')}`;

/** Many rows in one literal (db/sql-literal.ts sqliteJsonRows), read by json_each, as the columns named. */
const jsonRows = (columns: readonly string[], rows: ReadonlyArray<readonly (string | number | null)[]>): string =>
  `SELECT ${columns.map((c, i) => `value ->> ${i} AS ${c}`).join(', ')} FROM json_each(${sqliteJsonRows(rows)})`;

const INSERT_COLUMNS = ['uid', 'printer_id', 'content', 'kind', 'reprint_of', 'created_by'] as const;
const MOVE_COLUMNS = ['id', 'printer_id', 'uid', 'at', 'error'] as const;

/**
 * The SET list of a move to `to` (its SQL `toSql`) at `now`: the status, and the stamp, finish time and error
 * that `to` writes, taken from `atSql` and `errorSql` (a column of the joined values, or a literal).
 */
function moveSets(to: JobStatus, toSql: string, now: string, atSql: string, errorSql: string): string {
  const sets = [`status = ${toSql}`, `updated_at = ${now}`];
  const stamp = STAMPS[to];
  if (stamp) sets.push(`${stamp.column} = ${atSql}`);
  if (finishes(to)) sets.push(`finished_at = ${atSql}`);
  if (writesError(to)) sets.push(`error = ${errorSql}`);
  return sets.join(', ');
}

/**
 * The UPDATE to `to` (its SQL `toSql`) of the jobs in `rows` (SQL giving per job id, printer_id or null, uid or
 * null, at, error), at `now`. Only rows in one of the statuses `from` (SQL of a list) move, so an ack applies once.
 * The status test is `+status`, so that no index of it can drive the join: SQLite knows nothing of how many rows
 * `json_each` gives, and would otherwise walk every job of status `from` and scan the rows for each. With it, each
 * row finds its job by its id (test/broker-server/store/sqlite-write-plans.test.ts).
 */
function updateSql(to: JobStatus, toSql: string, now: string, from: string, rows: string): string {
  return `UPDATE print_jobs SET ${moveSets(to, toSql, now, 'v.at', 'v.error')}
  FROM (${rows}) AS v
  WHERE print_jobs.id = v.id AND (v.printer_id IS NULL OR print_jobs.printer_id = v.printer_id)
    AND (v.uid IS NULL OR print_jobs.uid = v.uid) AND +print_jobs.status IN ${from}`;
}

/**
 * The UPDATE of `updateSql` for ONE move, `r` (its time `at` as SQL text): the same row moves with the same
 * columns, in a statement without the VALUES table to join, which sqlite3_exec parses and plans in about half
 * the time (a script's statements are parsed each time it runs; a lone job's last commit is three such moves,
 * one per round). No printer id or uid checks nothing, as `v.printer_id IS NULL OR …` does there.
 */
function updateOneSql(
  to: JobStatus,
  toSql: string,
  now: string,
  from: string,
  r: TransitionRequest,
  at: string,
): string {
  const sets = moveSets(to, toSql, now, sqliteLiteral(at), sqliteLiteral(r.error ?? null));
  const where = [`id = ${sqliteLiteral(r.id)}`];
  if (r.printerId != null) where.push(`printer_id = ${sqliteLiteral(r.printerId)}`);
  if (r.uid != null) where.push(`uid = ${sqliteLiteral(r.uid)}`);
  return `UPDATE print_jobs SET ${sets} WHERE ${where.join(' AND ')} AND status IN ${from}`;
}

/** An event row's columns (EventRow's names), in the order of EVENTS_AFTER_AS_JSON's arrays: the event's, then its job's. */
const EVENT_COLUMNS: ReadonlyArray<readonly [keyof EventRow, string]> = [
  ['event_id', 'e.id'],
  ['event_status', 'e.status'],
  ['event_at', 'e.at'],
  ...JOB_COLUMNS.map((column) => [column, `j.${column}`] as const),
];

/**
 * EVENTS_AFTER (sql-print-store.ts: the events after `$1`, oldest first, with their jobs as they are now), each row
 * as ONE JSON text: an array of the event row's values in EVENT_COLUMNS' order (a pruned job's are null), each as
 * the row would give it (numbers; texts as stored, dates in their SQL text, which `toJobEvent` reads as from a row).
 */
const EVENTS_AFTER_AS_JSON = `SELECT json_array(${EVENT_COLUMNS.map(([, sql]) => sql).join(', ')}) AS event
  ${EVENTS_AFTER_FROM}`;

/**
 * The events after `after` (at most `limit`), as the log gives them (`toJobEvent`), each read as one JSON text: one
 * column for sqlite3 to turn into an object property, and a JSON.parse, where a row of 18 columns was 18 properties
 * set one by one by sqlite3's native code on the main thread.
 */
export async function eventsAsJson(runner: Pick<SqlRunner, 'all'>, after: number, limit?: number): Promise<JobEvent[]> {
  const rows =
    limit === undefined
      ? await runner.all<{ event: string }>(EVENTS_AFTER_AS_JSON, [after])
      : await runner.all<{ event: string }>(`${EVENTS_AFTER_AS_JSON} LIMIT $2`, [after, limit]);
  const events: JobEvent[] = new Array<JobEvent>(rows.length);
  for (let k = 0; k < rows.length; k++)
    events[k] = toJobEvent(rowOf(EVENT_NAMES, rows[k]!.event) as unknown as EventRow);
  return events;
}

const EVENT_NAMES = EVENT_COLUMNS.map(([name]) => name);

/** A job row's columns (JOB_COLUMNS' order) as one JSON text a row, before the query's FROM (SqlitePrintStore#selectJobs). */
const JOBS_AS_JSON = `SELECT json_array(${JOB_COLUMNS.join(', ')}) AS job`;

/** A row as sqlite3 would give it, from the JSON array of its values in `names`' order. */
function rowOf(names: readonly string[], json: string): Record<string, unknown> {
  const values = JSON.parse(json) as unknown[];
  const row: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
  return row;
}

/** Prepared texts of a write alone, made once per shape. */
const texts = new Map<string, string>();
const text = (key: string, make: () => string): string => {
  let sql = texts.get(key);
  if (sql === undefined) texts.set(key, (sql = make()));
  return sql;
};

/** What a write alone gives back: its row, and the log's sequence before its event (null: no event yet). */
const RETURNING = `RETURNING *, (SELECT seq FROM sqlite_sequence WHERE name = 'job_events') AS events_before`;
type WrittenRow = JobRow & { events_before: number | null };

const slices = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * What a batch answers, from the events it (and any other writer since `after`) wrote, oldest first: an
 * insert's row is its `pending` event's job, found by uid. An applied move wrote exactly one event, of its
 * status, for its job (a move always changes the status, and the trigger writes one per change); a refused
 * one wrote none. So each job's events, in id order, are matched with that job's requests in round order
 * (the order they ran): a request takes the job's next event when it names that status and its printer and
 * uid checks pass. Exact: a request whose checks pass and whose status is the next event's, but which did
 * not apply, would have found the job at or past that status already, and jobs only move forward, so no
 * later move to that status could have applied either.
 */
export function answers(
  inserts: ReadonlyArray<NewJob & { uid: string }>,
  rounds: readonly TransitionRequest[][],
  events: readonly JobEvent[],
): { inserted: PrintJob[]; updated: Array<Array<PrintJob | null>> } {
  const created = new Map<string, PrintJob>();
  const moves = new Map<number, PrintJob[]>();
  for (const { job } of events) {
    if (!job) continue;
    if (job.status === 'pending') created.set(job.uid, job);
    else {
      const list = moves.get(job.id);
      if (list) list.push(job);
      else moves.set(job.id, [job]);
    }
  }
  const inserted = inserts.map((job) => {
    const row = created.get(job.uid);
    if (!row) throw new Error(`job ${job.uid} committed, but its row was not found after the commit`);
    return { ...row }; // the caller's own copy: the event's goes to the change log's followers
  });
  const updated = rounds.map((round) =>
    round.map((r) => {
      const next = moves.get(r.id)?.[0];
      if (
        !next ||
        next.status !== r.to ||
        (r.printerId !== undefined && next.printerId !== r.printerId) ||
        (r.uid !== undefined && next.uid !== r.uid)
      )
        return null;
      moves.get(r.id)!.shift();
      return { ...next };
    }),
  );
  return { inserted, updated };
}

export class SqlitePrintStore extends SqlPrintStore {
  /** The newest event id of the log as this store last read it; null: to read first (the first batch, or after a failure). */
  private lastEvent: number | null = null;

  constructor(
    private readonly sqlite: SqliteClient,
    committed: SqlClient,
  ) {
    super(sqlite, committed);
  }

  /**
   * Jobs as the base reads them (`get`, `list`, the unfinished jobs' pages, the stale ones), each row as one JSON text
   * of its values in JOB_COLUMNS' order, as the log's events are (`eventsAsJson`): one property for sqlite3's native
   * code to set a row instead of 15, and JSON.parse.
   */
  protected override async selectJobs(from: string, bind: unknown[]): Promise<PrintJob[]> {
    const rows = await this.select<{ job: string }>(`${JOBS_AS_JSON} ${from}`, bind);
    const jobs: PrintJob[] = new Array<PrintJob>(rows.length);
    for (let k = 0; k < rows.length; k++) jobs[k] = toPrintJob(rowOf(JOB_COLUMNS, rows[k]!.job) as unknown as JobRow);
    return jobs;
  }

  /** The log's events for its readers (replays, gaps), as the base reads them, each event read as one JSON text. */
  override eventsAfter(afterId: number, limit: number): Promise<JobEvent[]> {
    return eventsAsJson(this.committed, afterId, limit);
  }

  protected writeBatch(inserts: NewJob[], rounds: TransitionRequest[][]): Promise<WrittenBatch> {
    return this.sqlite.exclusive(async (session) => {
      const jobs = inserts.map(withUid);
      // A move of a job number no row can have (not a safe integer) applies to nothing: it stays out of the SQL.
      const valid = rounds.map((round) => round.filter((r) => Number.isSafeInteger(r.id)));
      const now = this.sqlDate(new Date()) as string;
      const writes = jobs.length + valid.reduce((n, round) => n + round.length, 0);
      if (writes === 1) return this.writeOne(session, jobs, rounds, valid, now);
      const after = this.lastEvent ?? (await this.newestEvent(session));
      this.lastEvent = null; // unknown until the read after the write has succeeded
      if (writes > 1) await session.execTransaction(this.script(jobs, valid, now));
      const events = await eventsAsJson(session, after);
      const last = events.at(-1)?.id ?? null;
      this.lastEvent = last ?? after;
      return { ...answers(jobs, rounds, events), lastEventId: last, events: { after, events } };
    });
  }

  private async newestEvent(session: SqliteSession): Promise<number> {
    const row = await session.get<{ last: number | null }>('SELECT MAX(id) AS last FROM job_events');
    return Number(row?.last ?? 0);
  }

  /**
   * One write alone: one prepared statement in autocommit, and no read after it. Its RETURNING gives the row
   * and the log's sequence as it was before this statement's trigger wrote the one event (RETURNING is
   * computed before AFTER triggers run), so that event is the next id: exact even if another writer wrote
   * events since this store last looked (they lie before it, and the change log sees the gap and reads them).
   */
  private async writeOne(
    session: SqliteSession,
    jobs: Array<NewJob & { uid: string }>,
    rounds: TransitionRequest[][],
    valid: TransitionRequest[][],
    now: string,
  ): Promise<WrittenBatch> {
    const job = jobs[0];
    const move = valid.find((round) => round.length)?.[0];
    const [row] = job
      ? await session.all<WrittenRow>(
          text('i', () => `${insertSql('$1', boundRow(INSERT_COLUMNS, 2))} ${RETURNING}`),
          [now, job.uid, job.printerId, job.content, job.kind, job.reprintOf, job.createdBy ?? null],
        )
      : await session.all<WrittenRow>(
          text(
            `u${move!.to}`,
            () =>
              `${updateSql(move!.to, '$1', '$2', '(SELECT value FROM json_each($3))', boundRow(MOVE_COLUMNS, 4))} ${RETURNING}`,
          ),
          [
            move!.to,
            now,
            text(`f${move!.to}`, () => JSON.stringify(statusesBefore(move!.to))),
            move!.id,
            move!.printerId ?? null,
            move!.uid ?? null,
            this.sqlDate(move!.at),
            move!.error ?? null,
          ],
        );
    const written = row ? toPrintJob(row) : null;
    // The callers' own copies: `written` itself goes to the change log's followers.
    const inserted = job ? [{ ...written! }] : [];
    const updated = rounds.map((round) => round.map((r) => (r === move && written ? { ...written } : null)));
    if (!row) return { inserted, updated, lastEventId: null };
    const after = Number(row.events_before ?? 0);
    const id = after + 1;
    this.lastEvent = id;
    return { inserted, updated, lastEventId: id, events: { after, events: [{ id, job: written }] } };
  }

  /**
   * The statements of a batch: the inserts, then each round's moves, one UPDATE per status and slice (a status
   * with one move alone: `updateOneSql`).
   */
  private script(jobs: Array<NewJob & { uid: string }>, rounds: TransitionRequest[][], now: string): string[] {
    const at = sqliteLiteral(now);
    const statements: string[] = [];
    for (const slice of slices(jobs, ROWS_PER_STATEMENT))
      statements.push(
        insertSql(
          at,
          jsonRows(
            INSERT_COLUMNS,
            slice.map((j) => [j.uid, j.printerId, j.content, j.kind, j.reprintOf, j.createdBy ?? null]),
          ),
        ),
      );
    for (const round of rounds) {
      const groups = new Map<JobStatus, TransitionRequest[]>();
      for (const r of round) {
        const group = groups.get(r.to);
        if (group) group.push(r);
        else groups.set(r.to, [r]);
      }
      for (const [to, group] of groups) {
        const from = `(${statusesBefore(to).map(sqliteLiteral).join(', ')})`;
        if (group.length === 1) {
          const r = group[0]!;
          statements.push(updateOneSql(to, sqliteLiteral(to), at, from, r, this.sqlDate(r.at) as string));
          continue;
        }
        for (const slice of slices(group, ROWS_PER_STATEMENT))
          statements.push(
            updateSql(
              to,
              sqliteLiteral(to),
              at,
              from,
              jsonRows(
                MOVE_COLUMNS,
                slice.map((r) => [
                  r.id,
                  r.printerId ?? null,
                  r.uid ?? null,
                  this.sqlDate(r.at) as string,
                  r.error ?? null,
                ]),
              ),
            ),
          );
      }
    }
    return statements;
  }
}
