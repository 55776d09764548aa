/**
 * A print job as the rest of the server sees it, and its changes in the event log: the jobs' domain
 * types. The stores (store/) map their rows to these; jobs/, http/ and webhooks/ use them.
 */
import type { JobKind } from '../../../protocol/messages';
import type { JobStatus } from '../../../protocol/states';

export interface PrintJob {
  /** The job's number, for people and the API: a replaced or restored database hands the same numbers out again. */
  id: number;
  /** The job's identity across databases (protocol `uid`): random, made when the job is stored, never made again. */
  uid: string;
  printerId: string;
  content: string;
  /** `message`, or `test` for a test print (the agent prints its test receipt, not the content). */
  kind: JobKind;
  status: JobStatus;
  error: string | null;
  reprintOf: number | null;
  /** Who asked for it: `page` (the form), `anonymous` (the API without a key) or `api-key:NAME`; null for jobs from before. */
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  receivedAt: string | null;
  printedAt: string | null;
  finishedAt: string | null;
}

/** One change of one job, from the event log (`job_events`): the job as it was right after that change. */
export interface JobEvent {
  /** Ids grow in commit order, across instances too: having seen N means having seen every event below it. */
  id: number;
  /** Null when the job has since been pruned (JOB_RETENTION_DAYS): the event is skipped, its id still counts. */
  job: PrintJob | null;
}

/**
 * The events a commit's listener may be handed with it (after COMMIT only): every event of the log with an
 * id above `after`, up to the commit's `lastEventId`, oldest first, each with its job as it was then. The
 * SQLite store read them anyway to answer its batch; the log's reader uses them instead of reading again
 * when they start where it stands.
 */
export interface CommittedEvents {
  after: number;
  events: JobEvent[];
}

/** The ids the event log holds: `first` is null when it is empty; `last` is the newest id ever handed out (0: none). */
export interface JobEventBounds {
  first: number | null;
  last: number;
}
