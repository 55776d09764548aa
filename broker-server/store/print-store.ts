/**
 * The job store: the one door to the `print_jobs` and `printers` tables. One implementation per
 * database (sqlite-print-store.ts, postgres-print-store.ts) owns every query on them; the rules both follow
 * are in job-rules.ts, and rows become `PrintJob`s in one place (job-rows.ts).
 */
import type { JobKind } from '../../protocol/messages';
import type { JobStatus } from '../../protocol/states';
import type { CommittedEvents, JobEvent, JobEventBounds, PrintJob } from '../jobs/model/print-job';

/** The domain types are the jobs' own (jobs/model/); re-exported here for the stores, for this stop. */
export type { CommittedEvents, JobEvent, JobEventBounds, PrintJob } from '../jobs/model/print-job';

export interface NewJob {
  /** Made by the store (a random UUID) when absent. */
  uid?: string;
  printerId: string;
  content: string;
  kind: JobKind;
  reprintOf: number | null;
  createdBy?: string | null;
}

export interface TransitionRequest {
  id: number;
  to: JobStatus;
  /** When given, the job must belong to this printer. */
  printerId?: string;
  /** When given, the job must have this uid: an ack names the job it answers by its uid, not only by its number. */
  uid?: string;
  error?: string | null;
  at: Date;
  /**
   * The move may wait, at most store/group-commit.ts's DEFER_MS, to be committed with other writes instead of
   * starting a commit of its own (a job's `sent` mark: DESIGN.md "Exactly once"). Its promise still
   * resolves only once committed.
   */
  deferrable?: boolean;
}

export interface JobFilter {
  status?: JobStatus;
  printerId?: string;
  /** Created at or after / before. */
  since?: Date;
  until?: Date;
  /** Only jobs with a smaller id (the next page of a newest-first list). */
  beforeId?: number;
  limit?: number;
}

/** A printer's row, as stored: one whose agent has been seen. */
export interface PrinterRecord {
  id: string;
  state: string;
  condition: string | null;
  detail: string | null;
  columns: number | null;
  codepage: string | null;
  lastSeenAt: string | null;
  /** The agent's own figures from its last status (JSON text), or null. */
  agentInfo: string | null;
}

/** What an agent's status message writes; `columns` and `codepage` are kept when absent. */
export interface PrinterStatusWrite {
  state: string;
  condition: string | null;
  detail: string | null;
  columns?: number;
  codepage?: string;
  /** Kept when absent (an offline status, an older agent). */
  agentInfo?: string;
  at: Date;
}

/** The print_jobs table: jobs, their moves, and the reads of them. */
export interface JobTable {
  /** Writes waiting for their commit: the dispatcher slows its intake when this grows. */
  readonly backlog: number;
  /** Resolves once committed. */
  insert(job: NewJob): Promise<PrintJob>;
  /** The job as moved, or null when the move is not allowed, the job is unknown or not the printer's. Resolves once committed. */
  transition(request: TransitionRequest): Promise<PrintJob | null>;
  get(id: number): Promise<PrintJob | null>;
  /** Newest first; 50 unless `limit` says otherwise. */
  list(filter: JobFilter): Promise<PrintJob[]>;
  /**
   * Unfinished jobs, oldest first (of one printer when `printerId` is given). With `limit`, one page: at most
   * that many, with an id above `afterId` (a printer's backlog is read a window at a time, jobs/dispatcher.ts).
   */
  unfinished(printerId?: string, afterId?: number, limit?: number): Promise<PrintJob[]>;
  /** Unfinished jobs of online printers not updated since `before`, oldest first. */
  stale(before: Date): Promise<PrintJob[]>;
  /** Deletes finished jobs that finished before `before`; returns how many. */
  prune(before: Date): Promise<number>;
  /** Unfinished jobs per printer, counted by the database (metrics); absent: counted from `unfinished()`. */
  unfinishedCounts?(): Promise<Map<string, number>>;
  /** Told how long each group commit of job writes took (metrics). */
  observeCommits?(observer: (seconds: number) => void): void;
}

/** The printers table: each printer's last known status, kept across restarts. */
export interface PrinterStatusTable {
  printers(): Promise<PrinterRecord[]>;
  printer(id: string): Promise<PrinterRecord | null>;
  writePrinterStatus(id: string, status: PrinterStatusWrite): Promise<void>;
  /** Every online printer becomes offline. */
  markAllOffline(): Promise<void>;
}

/** The job_events log, written by triggers in the same transaction as each change of a job. */
export interface JobEventLogTable {
  /**
   * Up to `limit` events with an id above `afterId`, oldest first.
   */
  eventsAfter(afterId: number, limit: number): Promise<JobEvent[]>;
  eventBounds(): Promise<JobEventBounds>;
  /** Deletes events older than `before`, always keeping the newest one (it carries the last id); returns how many. */
  pruneEvents(before: Date): Promise<number>;
  /**
   * Told, after each commit that changed jobs, the newest id of the event log: the wake-up of the log's
   * one reader (jobs/job-change-log.ts). The listener must not throw.
   */
  onCommitted(listener: (lastEventId: number, events?: CommittedEvents) => void): void;
}

/**
 * The print store: the three tables of printing (jobs, printers' status, the job event log), one
 * implementation per database, so that a job's change and its event commit together.
 */
export interface PrintStore extends JobTable, PrinterStatusTable, JobEventLogTable {
  /** Closes what the store opened besides the database's own connections (at shutdown). */
  close?(): Promise<void>;
}
