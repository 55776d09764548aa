/**
 * The job store: the one door to the `print_jobs` and `printers` tables. One implementation per
 * database (sqlite-job-store.ts, postgres-job-store.ts) owns every query on them; the rules both follow
 * are in job-rules.ts, and rows become `PrintJob`s in one place (job-rows.ts).
 */
import type { JobKind } from '../../protocol/messages';
import type { JobStatus } from '../../protocol/states';

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

/** One change of one job, from the event log (`job_events`): the job as it was right after that change. */
export interface JobEvent {
  /** Ids grow in commit order, across instances too: having seen N means having seen every event below it. */
  id: number;
  /** Null when the job has since been pruned (JOB_RETENTION_DAYS): the event is skipped, its id still counts. */
  job: PrintJob | null;
}

/** The ids the event log holds: `first` is null when it is empty; `last` is the newest id ever handed out (0: none). */
export interface JobEventBounds {
  first: number | null;
  last: number;
}

export interface JobStore {
  /** Writes waiting for their commit: the dispatcher slows its intake when this grows. */
  readonly backlog: number;
  /** Resolves once committed. */
  insert(job: NewJob): Promise<PrintJob>;
  /** The job as moved, or null when the move is not allowed, the job is unknown or not the printer's. Resolves once committed. */
  transition(request: TransitionRequest): Promise<PrintJob | null>;
  get(id: number): Promise<PrintJob | null>;
  /** Newest first; 50 unless `limit` says otherwise. */
  list(filter: JobFilter): Promise<PrintJob[]>;
  /** Unfinished jobs, oldest first. */
  unfinished(printerId?: string): Promise<PrintJob[]>;
  /** Unfinished jobs of online printers not updated since `before`, oldest first. */
  stale(before: Date): Promise<PrintJob[]>;
  /** Deletes finished jobs that finished before `before`; returns how many. */
  prune(before: Date): Promise<number>;
  printers(): Promise<PrinterRecord[]>;
  printer(id: string): Promise<PrinterRecord | null>;
  writePrinterStatus(id: string, status: PrinterStatusWrite): Promise<void>;
  /**
   * Up to `limit` events with an id above `afterId`, oldest first.
   */
  eventsAfter(afterId: number, limit: number): Promise<JobEvent[]>;
  eventBounds(): Promise<JobEventBounds>;
  /** Deletes events older than `before`, always keeping the newest one (it carries the last id); returns how many. */
  pruneEvents(before: Date): Promise<number>;
  /** Closes what the store opened besides the database's own connections (at shutdown). */
  close?(): Promise<void>;
  /** Every online printer becomes offline. */
  markAllOffline(): Promise<void>;
  /** Unfinished jobs per printer, counted by the database (metrics); absent: counted from `unfinished()`. */
  unfinishedCounts?(): Promise<Map<string, number>>;
  /**
   * Told, after each commit that changed jobs, the newest id of the event log: the wake-up of the log's
   * one reader (jobs/job-change-log.ts). The listener must not throw.
   */
  onCommitted(listener: (lastEventId: number) => void): void;
  /** Told how long each group commit of job writes took (metrics). */
  observeCommits?(observer: (seconds: number) => void): void;
}
