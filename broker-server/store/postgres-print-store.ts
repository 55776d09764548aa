/**
 * The job store on PostgreSQL: its group commit, where several server instances write the same table. Each
 * batch locks the rows it will move in id order first, so two instances' batches never deadlock on
 * each other; a deadlock or serialization failure all the same makes the whole batch run again (nothing
 * has been resolved before COMMIT). A batch that changed jobs ends with one NOTIFY carrying only the
 * newest id of the event log (delivered, to every instance, only if it commits): "there is more up to
 * N", which the log's reader of each instance follows (jobs/job-change-log.ts, DESIGN.md).
 */
import type { SqlRunner } from '../db/sql-client';
import type { JobStatus } from '../../protocol/states';
import { finishes, STAMPS, statusesBefore, withUid, writesError } from './job-rules';
import type { NewJob, TransitionRequest } from './print-store';
import { type JobRow, toPrintJob } from './job-rows';
import { changedAny, SqlPrintStore, type WrittenBatch } from './sql-print-store';

/** The NOTIFY channel of the event log: its payload is the newest event id (cluster/event-log-notices.ts listens). */
export const JOB_EVENTS_CHANNEL = 'printhop_job_events';

const RETRYABLE = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure
const MAX_ATTEMPTS = 5;

const asJob = (row: JobRow | null) => (row ? toPrintJob(row) : null);

export class PostgresPrintStore extends SqlPrintStore {
  protected async writeBatch(inserts: NewJob[], rounds: TransitionRequest[][]): Promise<WrittenBatch> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sql.transaction((tx) => this.write(tx, inserts, rounds));
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
      }
    }
  }

  private async write(tx: SqlRunner, inserts: NewJob[], rounds: TransitionRequest[][]): Promise<WrittenBatch> {
    const ids = [...new Set(rounds.flat().map((r) => r.id))].sort((a, b) => a - b);
    if (ids.length) await tx.all('SELECT id FROM print_jobs WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE', [ids]);
    const inserted = inserts.length ? await this.insertRows(tx, inserts) : [];
    const updated: Array<Array<JobRow | null>> = [];
    for (const round of rounds) updated.push(await this.updateRows(tx, round));
    const jobs = { inserted: inserted.map(toPrintJob), updated: updated.map((round) => round.map(asJob)) };
    if (!changedAny({ inserted, updated })) return { ...jobs, lastEventId: null };
    // The triggers hold the log's advisory lock until COMMIT, so the newest id is this batch's last event.
    const row = await tx.get<{ last: string }>(
      'SELECT pg_notify($1, m.last::text), m.last FROM (SELECT MAX(id) AS last FROM job_events) m',
      [JOB_EVENTS_CHANNEL],
    );
    return { ...jobs, lastEventId: Number(row!.last) };
  }

  private async insertRows(tx: SqlRunner, jobs: NewJob[]): Promise<JobRow[]> {
    // ORDER BY n: the sequence hands out ids in the order of the calls.
    const rows = await tx.all<JobRow>(
      `INSERT INTO print_jobs (uid, printer_id, content, kind, status, reprint_of, created_by, created_at, updated_at)
       SELECT u, p, c, k, 'pending', r, b, $1, $1 FROM unnest($7::varchar[], $2::varchar[], $3::text[], $4::varchar[], $5::int[], $6::varchar[]) WITH ORDINALITY AS t(u, p, c, k, r, b, n) ORDER BY n
       RETURNING *`,
      [
        new Date(),
        jobs.map((j) => j.printerId),
        jobs.map((j) => j.content),
        jobs.map((j) => j.kind),
        jobs.map((j) => j.reprintOf),
        jobs.map((j) => j.createdBy ?? null),
        jobs.map((j) => withUid(j).uid),
      ],
    );
    return rows.sort((a, b) => a.id - b.id);
  }

  /** One UPDATE per target status; each request's job id appears once in `requests`. */
  private async updateRows(tx: SqlRunner, requests: TransitionRequest[]): Promise<Array<JobRow | null>> {
    const byId = new Map<number, JobRow>();
    const groups = new Map<JobStatus, TransitionRequest[]>();
    for (const r of requests) groups.set(r.to, [...(groups.get(r.to) ?? []), r]);
    for (const [to, group] of groups) {
      const sets = ['status = $1', 'updated_at = $2'];
      const stamp = STAMPS[to];
      if (stamp) sets.push(`${stamp.column} = v.at`);
      if (finishes(to)) sets.push('finished_at = v.at');
      if (writesError(to)) sets.push('error = v.error');
      const rows = await tx.all<JobRow>(
        `UPDATE print_jobs AS j SET ${sets.join(', ')}
         FROM unnest($3::int[], $4::varchar[], $5::timestamptz[], $6::text[], $8::varchar[]) AS v(id, printer_id, at, error, uid)
         WHERE j.id = v.id AND (v.printer_id IS NULL OR j.printer_id = v.printer_id) AND (v.uid IS NULL OR j.uid = v.uid)
           AND j.status = ANY($7::varchar[])
         RETURNING j.*`,
        [
          to,
          new Date(),
          group.map((r) => r.id),
          group.map((r) => r.printerId ?? null),
          group.map((r) => r.at),
          group.map((r) => r.error ?? null),
          statusesBefore(to),
          group.map((r) => r.uid ?? null),
        ],
      );
      for (const row of rows) byId.set(row.id, row);
    }
    return requests.map((r) => byId.get(r.id) ?? null);
  }
}
