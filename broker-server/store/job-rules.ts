/**
 * The rules every job store follows when it moves a job, written once: which statuses a move may start
 * from (protocol/states.ts's state machine), which timestamp it sets, when `finished_at` and `error`
 * are written. The SQL stores turn them into SET clauses; the in-memory store of the tests applies them.
 */
import { canTransition, isFinal, JOB_STATUSES, jobStatusRank, type JobStatus } from '../../protocol/states';
import { randomUUID } from 'node:crypto';
import type { NewJob, PrintJob, TransitionRequest } from './print-store';

/**
 * A new job's uid: a UUID of version 7 (RFC 9562), the time in milliseconds in its first 48 bits and 74 random
 * bits after it, those of a random UUID of node:crypto (its 4th to 8th groups less the version digit). Random
 * enough that no two databases ever make the same one, and in time order, so that the unique index on
 * `print_jobs.uid` grows at its end: a group commit's inserts share its last leaf instead of each writing a
 * leaf of its own to the WAL, as random (version 4) uids did (issue 22; DESIGN.md "A job's identity").
 */
export function timeOrderedUid(ms = Date.now()): string {
  const time = ms.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-7${randomUUID().slice(15)}`;
}

/**
 * 8 random hex digits of a job's uid, which tag its events' ids and its webhook ids (so that a number a replaced
 * or restored database hands out again never passes for the one a client saw): a random (version 4) uid's first
 * 8, as since tags were made; a time-ordered (version 7) uid's last 8, its first being its time, the same for a
 * minute of jobs. store/webhook-store.ts reads the same digits in SQL.
 */
export const uidTag = (uid: string): string => (uid[14] === '7' ? uid.slice(28) : uid.slice(0, 8));

/** The job with its uid (`timeOrderedUid`) unless it already has one. Every store inserts through this. */
export const withUid = (job: NewJob): NewJob & { uid: string } => ({ ...job, uid: job.uid ?? timeOrderedUid() });

/** The column (and PrintJob field) a move to this status stamps with the time it happened. */
export const STAMPS: Partial<Record<JobStatus, { column: string; field: 'sentAt' | 'receivedAt' | 'printedAt' }>> = {
  sent: { column: 'sent_at', field: 'sentAt' },
  received: { column: 'received_at', field: 'receivedAt' },
  printed: { column: 'printed_at', field: 'printedAt' },
};

/** The statuses a job may be in for a move to `to` to apply. */
export const statusesBefore = (to: JobStatus): JobStatus[] => JOB_STATUSES.filter((s) => canTransition(s, to));

/** A move to a final status sets `finished_at`. */
export const finishes = (to: JobStatus): boolean => isFinal(to);

/** Only these moves write the agent's error text (and a move to `printed` leaves `error` alone). */
export const writesError = (to: JobStatus): boolean => to === 'failed' || to === 'interrupted';

/** `request` applied to `job` at `now`, or null when it does not apply (not allowed, or not the printer's job). */
export function applyTransition(job: PrintJob, request: TransitionRequest, now: Date): PrintJob | null {
  if (request.printerId !== undefined && job.printerId !== request.printerId) return null;
  if (request.uid !== undefined && job.uid !== request.uid) return null;
  if (!statusesBefore(request.to).includes(job.status)) return null;
  const at = request.at.toISOString();
  const moved: PrintJob = { ...job, status: request.to, updatedAt: now.toISOString() };
  const stamp = STAMPS[request.to];
  if (stamp) moved[stamp.field] = at;
  if (finishes(request.to)) moved.finishedAt = at;
  if (writesError(request.to)) moved.error = request.error ?? null;
  return moved;
}

/**
 * `job` (as stored now) as it was right after it moved to `status` at `at`: jobs only move forward and
 * each stamp is written once, so the stamps, `finished_at` and `error` of later moves are the only
 * difference. The event log stores the move; this gives the job each event carries.
 */
export function jobAsOf(job: PrintJob, status: JobStatus, at: string): PrintJob {
  const then: PrintJob = { ...job, status, updatedAt: at };
  if (status === job.status) return then;
  for (const [to, stamp] of Object.entries(STAMPS) as Array<
    [JobStatus, { field: 'sentAt' | 'receivedAt' | 'printedAt' }]
  >)
    if (jobStatusRank(to) > jobStatusRank(status)) then[stamp.field] = null;
  if (!finishes(status)) then.finishedAt = null;
  if (!writesError(status)) then.error = null;
  return then;
}
