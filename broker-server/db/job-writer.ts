/**
 * Group commit for the hot path: every job insert and status change waits in one queue, and whatever
 * has queued while the previous commit was on disk is written together in one transaction (one fsync).
 * Alone, a write commits at once; under load, hundreds share a commit. Nothing resolves before COMMIT,
 * so `201` and every status change still mean "committed".
 *
 * The queue and the ordering rules live here once; each dialect only writes a batch (SQLite below,
 * PostgreSQL in postgres-job-writer.ts). Both use plain SQL on a connection Sequelize manages (the
 * models and migrations stay Sequelize's), because Sequelize cannot read rows back from a multi-row
 * `INSERT … RETURNING` on SQLite.
 */
import type { Sequelize } from 'sequelize';
import type { JobKind } from '../../protocol/messages';
import { canTransition, isFinal, JOB_STATUSES, type JobStatus } from '../../protocol/states';

/** SQLite gives dates back as text, PostgreSQL as Date. */
type SqlDate = string | Date;

export interface JobRow {
  id: number;
  printer_id: string;
  content: string;
  kind: JobKind;
  status: JobStatus;
  error: string | null;
  reprint_of: number | null;
  created_at: SqlDate;
  updated_at: SqlDate;
  sent_at: SqlDate | null;
  received_at: SqlDate | null;
  printed_at: SqlDate | null;
  finished_at: SqlDate | null;
}

export interface NewJob {
  printerId: string;
  content: string;
  kind: JobKind;
  reprintOf: number | null;
}

export interface TransitionRequest {
  id: number;
  to: JobStatus;
  /** When given, the job must belong to this printer. */
  printerId?: string;
  error?: string | null;
  at: Date;
}

interface SqliteConnection {
  all(sql: string, params: unknown[], callback: (err: Error | null, rows: unknown[]) => void): void;
  run(sql: string, params: unknown[], callback: (err: Error | null) => void): void;
}

type Pending =
  | { kind: 'insert'; job: NewJob; resolve: (row: JobRow) => void; reject: (err: unknown) => void }
  | { kind: 'transition'; request: TransitionRequest; resolve: (row: JobRow | null) => void; reject: (err: unknown) => void };

/** Statements stay well under SQLite's limit of 32,766 bound parameters (PostgreSQL's is 65,535). */
const MAX_BATCH = 1000;

export const STAMP_COLUMN: Partial<Record<JobStatus, string>> = { sent: 'sent_at', received: 'received_at', printed: 'printed_at' };

/** The statuses a job may be in for `to` to apply: the state machine of protocol/states.ts, as SQL data. */
export const statusesBefore = (to: JobStatus): JobStatus[] => JOB_STATUSES.filter((s) => canTransition(s, to));

export interface JobWriter {
  insert(job: NewJob): Promise<JobRow>;
  /** Resolves with the updated row, or null when the transition was not allowed (or the job is unknown, or not the printer's). */
  transition(request: TransitionRequest): Promise<JobRow | null>;
  /** Number of writes waiting for a commit: the dispatcher slows its intake when this grows. */
  readonly backlog: number;
}

/** Sequelize stores SQLite dates as `YYYY-MM-DD HH:MM:SS.SSS +00:00`; rows written here must match. */
export function toSqlDate(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', ' +00:00');
}

/**
 * The queue shared by both dialects. `writeBatch` runs inside one transaction: the inserts, then the
 * transitions in rounds where each job appears at most once, so that transitions of one job apply in
 * arrival order (an ack must not overtake the `sent` queued before it).
 */
export abstract class GroupCommitWriter implements JobWriter {
  private queue: Pending[] = [];
  private flushing = false;

  insert(job: NewJob): Promise<JobRow> {
    return new Promise((resolve, reject) => this.push({ kind: 'insert', job, resolve, reject }));
  }

  transition(request: TransitionRequest): Promise<JobRow | null> {
    return new Promise((resolve, reject) => this.push({ kind: 'transition', request, resolve, reject }));
  }

  get backlog(): number {
    return this.queue.length;
  }

  /** Writes `inserts` and then each round of `rounds` in one transaction; rows come back in the order asked (null: not applied). */
  protected abstract writeBatch(inserts: NewJob[], rounds: TransitionRequest[][]): Promise<{ inserted: JobRow[]; updated: Array<Array<JobRow | null>> }>;

  private push(item: Pending): void {
    this.queue.push(item);
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const settle = await this.commit(batch);
          settle();
        } catch (err) {
          for (const item of batch) item.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes one batch in one transaction; returns what to resolve once it is committed. */
  private async commit(batch: Pending[]): Promise<() => void> {
    const inserts = batch.filter((p): p is Extract<Pending, { kind: 'insert' }> => p.kind === 'insert');
    const transitions = batch.filter((p): p is Extract<Pending, { kind: 'transition' }> => p.kind === 'transition');
    const rounds: Array<typeof transitions> = [];
    let rest = transitions;
    while (rest.length) {
      const seen = new Set<number>();
      const round: typeof transitions = [];
      const later: typeof transitions = [];
      for (const p of rest) {
        (seen.has(p.request.id) ? later : round).push(p);
        seen.add(p.request.id);
      }
      rounds.push(round);
      rest = later;
    }
    const { inserted, updated } = await this.writeBatch(
      inserts.map((p) => p.job),
      rounds.map((round) => round.map((p) => p.request)),
    );
    return () => {
      inserts.forEach((p, i) => p.resolve(inserted[i]!));
      rounds.forEach((round, r) => round.forEach((p, i) => p.resolve(updated[r]![i] ?? null)));
    };
  }
}

export class SqliteJobWriter extends GroupCommitWriter {
  private connection: SqliteConnection | null = null;

  constructor(private readonly sequelize: Sequelize) {
    super();
  }

  protected async writeBatch(inserts: NewJob[], rounds: TransitionRequest[][]): Promise<{ inserted: JobRow[]; updated: Array<Array<JobRow | null>> }> {
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
    return new Promise((resolve, reject) => connection.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  }

  private async run(sql: string, params: unknown[] = []): Promise<void> {
    const connection = await this.getConnection();
    return new Promise((resolve, reject) => connection.run(sql, params, (err) => (err ? reject(err) : resolve())));
  }

  private async getConnection(): Promise<SqliteConnection> {
    this.connection ??= (await this.sequelize.connectionManager.getConnection({ uuid: 'default' } as never)) as unknown as SqliteConnection;
    return this.connection;
  }

  private async insertRows(jobs: NewJob[]): Promise<JobRow[]> {
    const now = toSqlDate(new Date());
    const params: unknown[] = [];
    for (const job of jobs) params.push(job.printerId, job.content, job.kind, job.reprintOf, now, now);
    const values = jobs.map(() => "(?, ?, ?, 'pending', ?, ?, ?)").join(', ');
    const rows = await this.all<JobRow>(
      `INSERT INTO print_jobs (printer_id, content, kind, status, reprint_of, created_at, updated_at) VALUES ${values} RETURNING *`,
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
      const key = `${r.to}|${r.printerId === undefined ? '' : 'p'}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const now = toSqlDate(new Date());
    for (const group of groups.values()) {
      const to = group[0]!.to;
      const checkPrinter = group[0]!.printerId !== undefined;
      const from = statusesBefore(to);
      const params: unknown[] = [to, now];
      const sets = ['status = ?', 'updated_at = ?'];
      const byIdCase = (values: unknown[]) => {
        const cases = group.map(() => 'WHEN ? THEN ?').join(' ');
        group.forEach((r, i) => params.push(r.id, values[i]));
        return `CASE id ${cases} END`;
      };
      const at = group.map((r) => toSqlDate(r.at));
      const stamp = STAMP_COLUMN[to];
      if (stamp) sets.push(`${stamp} = ${byIdCase(at)}`);
      if (isFinal(to)) sets.push(`finished_at = ${byIdCase(at)}`);
      if (to === 'failed' || to === 'interrupted') sets.push(`error = ${byIdCase(group.map((r) => r.error ?? null))}`);
      let where: string;
      if (checkPrinter) {
        where = `(id, printer_id) IN (VALUES ${group.map(() => '(?, ?)').join(', ')})`;
        for (const r of group) params.push(r.id, r.printerId);
      } else {
        where = `id IN (${group.map(() => '?').join(', ')})`;
        for (const r of group) params.push(r.id);
      }
      where += ` AND status IN (${from.map(() => '?').join(', ')})`;
      params.push(...from);
      const rows = await this.all<JobRow>(`UPDATE print_jobs SET ${sets.join(', ')} WHERE ${where} RETURNING *`, params);
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const r of group) result.set(r, byId.get(r.id) ?? null);
    }
    return requests.map((r) => result.get(r) ?? null);
  }
}
