/**
 * Group commit for the hot path: every job insert and status change waits in one queue, and whatever
 * has queued while the previous commit was on disk is written together in one transaction (one fsync).
 * Alone, a write commits at once; under load, hundreds share a commit. Nothing resolves before COMMIT,
 * so `201` and every status change still mean "committed".
 *
 * It runs on the connection Sequelize manages (the models and migrations stay Sequelize's); the statements
 * are plain SQL because Sequelize's SQLite dialect cannot read rows back from `INSERT … RETURNING`.
 */
import type { Sequelize } from 'sequelize';
import type { JobKind } from '../../protocol/messages';
import { canTransition, JOB_STATUSES, type JobStatus } from '../../protocol/states';

export interface JobRow {
  id: number;
  printer_id: string;
  content: string;
  kind: JobKind;
  status: JobStatus;
  error: string | null;
  reprint_of: number | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
  received_at: string | null;
  printed_at: string | null;
  finished_at: string | null;
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

/** Statements stay well under SQLite's limit of 32,766 bound parameters. */
const MAX_BATCH = 1000;

const STAMP_COLUMN: Partial<Record<JobStatus, string>> = { sent: 'sent_at', received: 'received_at', printed: 'printed_at' };
const FINAL: ReadonlySet<JobStatus> = new Set(['printed', 'failed', 'interrupted']);

/** Sequelize stores SQLite dates as `YYYY-MM-DD HH:MM:SS.SSS +00:00`; rows written here must match. */
export function toSqlDate(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', ' +00:00');
}

export class JobWriter {
  private queue: Pending[] = [];
  private flushing = false;
  private connection: SqliteConnection | null = null;

  constructor(private readonly sequelize: Sequelize) {}

  insert(job: NewJob): Promise<JobRow> {
    return new Promise((resolve, reject) => this.push({ kind: 'insert', job, resolve, reject }));
  }

  /** Resolves with the updated row, or null when the transition was not allowed (or the job is unknown). */
  transition(request: TransitionRequest): Promise<JobRow | null> {
    return new Promise((resolve, reject) => this.push({ kind: 'transition', request, resolve, reject }));
  }

  /** Number of writes waiting for a commit: the dispatcher slows its intake when this grows. */
  get backlog(): number {
    return this.queue.length;
  }

  async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
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
    const single = batch.length === 1;
    if (!single) await this.run('BEGIN IMMEDIATE');
    try {
      const inserted = inserts.length ? await this.insertRows(inserts.map((p) => p.job)) : [];
      // Transitions run in arrival order per job: an ack must not overtake the `sent` queued before it.
      const updated = new Map<Pending, JobRow | null>();
      let rest = transitions;
      while (rest.length) {
        const seen = new Set<number>();
        const round: typeof transitions = [];
        const later: typeof transitions = [];
        for (const p of rest) {
          (seen.has(p.request.id) ? later : round).push(p);
          seen.add(p.request.id);
        }
        const rows = await this.updateRows(round.map((p) => p.request));
        round.forEach((p, i) => updated.set(p, rows[i] ?? null));
        rest = later;
      }
      if (!single) await this.run('COMMIT');
      return () => {
        inserts.forEach((p, i) => p.resolve(inserted[i]!));
        for (const p of transitions) p.resolve(updated.get(p) ?? null);
      };
    } catch (err) {
      if (!single) await this.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
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
      const from = JOB_STATUSES.filter((s) => canTransition(s, to));
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
      if (FINAL.has(to)) sets.push(`finished_at = ${byIdCase(at)}`);
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
