/** Job states and the only allowed moves between them (see DESIGN.md, "Job states"). */

export const JOB_STATUSES = ['pending', 'sent', 'received', 'printed', 'failed', 'interrupted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['printed', 'failed', 'interrupted']);
/** Jobs the server hands (again) to the broker until the agent confirms it holds them. */
export const UNFINISHED_STATUSES: readonly JobStatus[] = ['pending', 'sent', 'received'];
/** A person may ask for a new job from one of these. */
export const REPRINTABLE_STATUSES: ReadonlySet<JobStatus> = new Set(['printed', 'failed', 'interrupted']);

const RANK: Record<JobStatus, number> = { pending: 0, sent: 1, received: 2, printed: 3, failed: 3, interrupted: 3 };

/** How far along a job in this status is: 0 (pending) to 3 (a final status). */
export function jobStatusRank(status: JobStatus): number {
  return RANK[status];
}

export function isJobStatus(value: unknown): value is JobStatus {
  return typeof value === 'string' && (JOB_STATUSES as readonly string[]).includes(value);
}

export function isFinal(status: JobStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/**
 * A job only moves forward: a final state never changes, and a message that arrives late
 * (a `received` ack after `printed`, a re-publication after `received`) changes nothing.
 */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  if (isFinal(from)) return false;
  return RANK[to] > RANK[from];
}

/** The French words the page shows. */
export const STATUS_LABELS_FR: Record<JobStatus, string> = {
  pending: 'en attente',
  sent: 'envoyé',
  received: 'reçu',
  printed: 'imprimé',
  failed: 'échec',
  interrupted: 'interrompu',
};
