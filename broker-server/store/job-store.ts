/**
 * The job store: the one door to the `print_jobs` and `printers` tables. One implementation per
 * database (sqlite-job-store.ts, postgres-job-store.ts) owns every query on them; the rules both follow
 * are in job-rules.ts, and rows become `PrintJob`s in one place (job-rows.ts).
 */
import type { JobKind } from '../../protocol/messages';
import type { JobStatus } from '../../protocol/states';

export interface PrintJob {
  id: number;
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
  error?: string | null;
  at: Date;
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
}

/** What an agent's status message writes; `columns` and `codepage` are kept when absent. */
export interface PrinterStatusWrite {
  state: string;
  condition: string | null;
  detail: string | null;
  columns?: number;
  codepage?: string;
  at: Date;
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
  /** The content of these jobs (a job's content never changes), for the changes other instances announce. */
  contents(ids: number[]): Promise<Map<number, string>>;
  printers(): Promise<PrinterRecord[]>;
  printer(id: string): Promise<PrinterRecord | null>;
  writePrinterStatus(id: string, status: PrinterStatusWrite): Promise<void>;
  /** Every online printer becomes offline. */
  markAllOffline(): Promise<void>;
}
