/**
 * What the SQLite and PostgreSQL stores share: the reads and the `printers` writes, in SQL both
 * dialects accept (run through the database's SqlClient, prepared once per text), and the group-commit
 * queue in front of the job writes, which each dialect writes its own, faster way (sqlite-print-store.ts,
 * postgres-print-store.ts).
 */
import type { SqlClient, SqlDate } from '../db/sql-client';
import { FINAL_STATUSES, type JobStatus, UNFINISHED_STATUSES } from '../../protocol/states';
import { GroupCommit } from './group-commit';
import { jobAsOf, withUid } from './job-rules';
import type {
  CommittedEvents,
  JobEvent,
  JobEventBounds,
  JobFilter,
  PrintStore,
  NewJob,
  PrinterRecord,
  PrinterStatusWrite,
  PrintJob,
  TransitionRequest,
} from './print-store';
import { isoDate, type JobRow, type PrinterRow, toPrinterRecord, toPrintJob } from './job-rows';

/** `$1, $2, …` from `first`, for `count` values. */
const placeholders = (count: number, first = 1): string =>
  Array.from({ length: count }, (_, i) => `$${first + i}`).join(', ');

const FINAL = [...FINAL_STATUSES];

/**
 * The unfinished jobs, as the partial index `print_jobs_unfinished` (migration 0013) is defined: the same text,
 * in the same order, with literals and not parameters, or neither SQLite nor PostgreSQL can tell that a query's
 * rows are all in the index (test/broker-server/store/unfinished-index.test.ts checks the plans).
 */
export const UNFINISHED_SQL = `status IN (${UNFINISHED_STATUSES.map((s) => `'${s}'`).join(', ')})`;

export interface WrittenBatch {
  inserted: PrintJob[];
  updated: Array<Array<PrintJob | null>>;
  lastEventId: number | null;
  /** Every event after the log's previous known end up to `lastEventId`, when the store read them anyway. */
  events?: CommittedEvents;
}

/** Whether a batch moved or created any job (and so wrote events). */
export const changedAny = (batch: { inserted: unknown[]; updated: unknown[][] }): boolean =>
  batch.inserted.length > 0 || batch.updated.some((round) => round.some((row) => row !== null));

export type EventRow = JobRow & { event_id: number | string; event_status: JobStatus; event_at: SqlDate };

/** Where the events after `$1` and their jobs as they are now come from, oldest first: every read of the log's rows. */
export const EVENTS_AFTER_FROM = `FROM job_events e LEFT JOIN print_jobs j ON j.id = e.job_id WHERE e.id > $1 ORDER BY e.id`;

/** The events after `$1` with their jobs as they are now, oldest first (LIMIT added by who needs one). */
export const EVENTS_AFTER = `SELECT e.id AS event_id, e.status AS event_status, e.at AS event_at, j.*
  ${EVENTS_AFTER_FROM}`;

/** An event row as the log gives it: the job as it was right after that move (null: the job was pruned). */
export const toJobEvent = (row: EventRow): JobEvent => ({
  id: Number(row.event_id),
  job: row.id == null ? null : jobAsOf(toPrintJob(row), row.event_status, isoDate(row.event_at)),
});

export abstract class SqlPrintStore implements PrintStore {
  private readonly writes = new GroupCommit<PrintJob>(async (inserts, rounds) => {
    const started = process.hrtime.bigint();
    const { lastEventId, events, ...result } = await this.writeBatch(inserts, rounds);
    this.commitObserver?.(Number(process.hrtime.bigint() - started) / 1e9);
    if (lastEventId !== null) for (const listener of this.commitListeners) listener(lastEventId, events);
    return result;
  });
  private commitObserver: ((seconds: number) => void) | null = null;
  private readonly commitListeners: Array<(lastEventId: number, events?: CommittedEvents) => void> = [];

  onCommitted(listener: (lastEventId: number, events?: CommittedEvents) => void): void {
    this.commitListeners.push(listener);
  }

  observeCommits(observer: (seconds: number) => void): void {
    this.commitObserver = observer;
  }

  constructor(
    /** Every statement of the store. */
    protected readonly sql: SqlClient,
    /** Reads of the event log, which must see only committed changes (Database#committed). */
    protected readonly committed: SqlClient,
  ) {}

  /** A date as this dialect compares and stores it. */
  protected sqlDate(d: Date): SqlDate {
    return this.sql.date(d);
  }

  /**
   * Writes one batch of the group commit in one transaction; `lastEventId` is the newest id of the event
   * log once it committed (the triggers wrote the batch's events), or null when the batch changed nothing.
   */
  protected abstract writeBatch(inserts: NewJob[], rounds: TransitionRequest[][]): Promise<WrittenBatch>;

  get backlog(): number {
    return this.writes.backlog;
  }

  insert(job: NewJob): Promise<PrintJob> {
    return this.writes.insert(withUid(job));
  }

  transition(request: TransitionRequest): Promise<PrintJob | null> {
    return this.writes.transition(request, request.deferrable === true);
  }

  async get(id: number): Promise<PrintJob | null> {
    const [job] = await this.selectJobs('FROM print_jobs WHERE id = $1', [id]);
    return job ?? null;
  }

  async list(filter: JobFilter): Promise<PrintJob[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    if (filter.printerId) where.push(`printer_id = $${params.push(filter.printerId)}`);
    if (filter.since) where.push(`created_at >= $${params.push(this.sqlDate(filter.since))}`);
    if (filter.until) where.push(`created_at < $${params.push(this.sqlDate(filter.until))}`);
    if (filter.beforeId !== undefined) where.push(`id < $${params.push(filter.beforeId)}`);
    const limit = `$${params.push(filter.limit ?? 50)}`;
    return this.selectJobs(
      `FROM print_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
      params,
    );
  }

  async unfinished(printerId?: string, afterId = 0, limit?: number): Promise<PrintJob[]> {
    const params: unknown[] = [];
    const byPrinter = printerId ? ` AND printer_id = $${params.push(printerId)}` : '';
    const after = afterId > 0 ? ` AND id > $${params.push(afterId)}` : '';
    const where = `${UNFINISHED_SQL}${byPrinter}${after}`;
    // A page: the ids first, from the partial index alone (printer_id, id of the unfinished jobs), then only
    // those rows, so that a page of a long backlog does not read every row after it.
    return this.selectJobs(
      limit === undefined
        ? `FROM print_jobs WHERE ${where} ORDER BY id ASC`
        : `FROM print_jobs WHERE id IN (SELECT id FROM print_jobs WHERE ${where} ORDER BY id ASC LIMIT $${params.push(limit)}) ORDER BY id ASC`,
      params,
    );
  }

  async unfinishedCounts(): Promise<Map<string, number>> {
    const rows = await this.select<{ printer_id: string; n: number | string }>(
      `SELECT printer_id, COUNT(*) AS n FROM print_jobs WHERE ${UNFINISHED_SQL} GROUP BY printer_id`,
      [],
    );
    return new Map(rows.map((r) => [r.printer_id, Number(r.n)]));
  }

  async stale(before: Date): Promise<PrintJob[]> {
    const params: unknown[] = [this.sqlDate(before)];
    return this.selectJobs(
      `FROM print_jobs WHERE ${UNFINISHED_SQL} AND updated_at < $${params.length}
       AND printer_id IN (SELECT id FROM printers WHERE state = 'online') ORDER BY id ASC`,
      params,
    );
  }

  async prune(before: Date): Promise<number> {
    const params: unknown[] = [...FINAL, this.sqlDate(before)];
    return this.sql.run(
      `DELETE FROM print_jobs WHERE status IN (${placeholders(FINAL.length)}) AND finished_at < $${params.length}`,
      params,
    );
  }

  async printers(): Promise<PrinterRecord[]> {
    return (await this.select<PrinterRow>('SELECT * FROM printers ORDER BY id ASC', [])).map(toPrinterRecord);
  }

  async printer(id: string): Promise<PrinterRecord | null> {
    const [row] = await this.select<PrinterRow>('SELECT * FROM printers WHERE id = $1', [id]);
    return row ? toPrinterRecord(row) : null;
  }

  /** One statement: every instance hears every status, and two may write the first row of a printer at once. */
  async writePrinterStatus(id: string, status: PrinterStatusWrite): Promise<void> {
    const at = this.sqlDate(status.at);
    await this.sql.run(
      `INSERT INTO printers (id, state, detail, "condition", "columns", codepage, agent_info, first_seen_at, last_seen_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $8, $7, $7, $7)
       ON CONFLICT (id) DO UPDATE SET state = excluded.state, detail = excluded.detail, "condition" = excluded."condition",
         "columns" = COALESCE(excluded."columns", printers."columns"), codepage = COALESCE(excluded.codepage, printers.codepage),
         agent_info = COALESCE(excluded.agent_info, printers.agent_info),
         last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at`,
      [
        id,
        status.state,
        status.detail,
        status.condition,
        status.columns ?? null,
        status.codepage ?? null,
        at,
        status.agentInfo ?? null,
      ],
    );
  }

  async eventsAfter(afterId: number, limit: number): Promise<JobEvent[]> {
    const rows = await this.selectEvents<EventRow>(`${EVENTS_AFTER} LIMIT $2`, [afterId, limit]);
    return rows.map(toJobEvent);
  }

  async eventBounds(): Promise<JobEventBounds> {
    const [row] = await this.selectEvents<{ first: number | string | null; last: number | string | null }>(
      'SELECT MIN(id) AS first, MAX(id) AS last FROM job_events',
      [],
    );
    return { first: row?.first == null ? null : Number(row.first), last: Number(row?.last ?? 0) };
  }

  /**
   * Reads of the event log, which must see only committed changes (a stream must never announce what may
   * still roll back): on SQLite a read-only connection of its own (Database#committed).
   */
  private selectEvents<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.committed.all<T>(sql, bind);
  }

  /**
   * The events before the first one at or after `before`, in id order, and never the newest: ids follow
   * commit order and `at` follows time, so this walks (without an index on `at`) only the events it deletes,
   * plus one. An event stamped earlier than one before it (a clock set back, another instance's clock) stays
   * until the next pruning after it: kept longer, never pruned early.
   */
  async pruneEvents(before: Date): Promise<number> {
    return this.sql.run(
      `DELETE FROM job_events WHERE id < COALESCE(
         (SELECT id FROM job_events WHERE at >= $1 ORDER BY id LIMIT 1), (SELECT MAX(id) FROM job_events))`,
      [this.sqlDate(before)],
    );
  }

  async markAllOffline(): Promise<void> {
    await this.sql.run(`UPDATE printers SET state = 'offline', updated_at = $1 WHERE state = 'online'`, [
      this.sqlDate(new Date()),
    ]);
  }

  /**
   * Jobs read whole: `from` is the rest of the query after its column list (`FROM print_jobs WHERE … ORDER BY …`).
   * Every read of jobs goes through here, so that a dialect reads them its own way (SqlitePrintStore: each row as
   * one JSON text) and every one of them with it.
   */
  protected async selectJobs(from: string, bind: unknown[]): Promise<PrintJob[]> {
    return (await this.select<JobRow>(`SELECT * ${from}`, bind)).map(toPrintJob);
  }

  protected select<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sql.all<T>(sql, bind);
  }
}
