/** Rows of `print_jobs` and `printers` as both databases give them back, and the one mapping to domain objects. */
import type { JobKind } from '../../protocol/messages';
import type { JobStatus } from '../../protocol/states';
import { isoFromSql as isoDate, type SqlDate } from '../db/sql-client';
import type { PrinterRecord, PrintJob } from './print-store';

export { isoDate, type SqlDate };

export interface JobRow {
  id: number;
  uid: string;
  printer_id: string;
  content: string;
  kind: JobKind;
  status: JobStatus;
  error: string | null;
  reprint_of: number | null;
  created_by?: string | null;
  created_at: SqlDate;
  updated_at: SqlDate;
  sent_at: SqlDate | null;
  received_at: SqlDate | null;
  printed_at: SqlDate | null;
  finished_at: SqlDate | null;
}

/**
 * Every column of `print_jobs`, named as in JobRow, in the order the reads that list them give them
 * (sqlite-print-store.ts `EVENTS_AFTER_AS_JSON`). test/broker-server/store/events-as-json.test.ts checks it against the
 * table that the migrations make.
 */
export const JOB_COLUMNS = [
  'id',
  'printer_id',
  'content',
  'status',
  'error',
  'created_at',
  'updated_at',
  'sent_at',
  'received_at',
  'printed_at',
  'finished_at',
  'reprint_of',
  'kind',
  'created_by',
  'uid',
] as const satisfies ReadonlyArray<keyof JobRow>;

export interface PrinterRow {
  id: string;
  state: string;
  condition: string | null;
  detail: string | null;
  columns: number | null;
  codepage: string | null;
  last_seen_at: SqlDate | null;
  agent_info?: string | null;
}

export function toPrintJob(row: JobRow): PrintJob {
  return {
    id: row.id,
    printerId: row.printer_id,
    content: row.content,
    kind: row.kind ?? 'message',
    status: row.status,
    error: row.error ?? null,
    reprintOf: row.reprint_of ?? null,
    createdBy: row.created_by ?? null,
    createdAt: isoDate(row.created_at),
    updatedAt: isoDate(row.updated_at),
    sentAt: isoDate(row.sent_at),
    receivedAt: isoDate(row.received_at),
    printedAt: isoDate(row.printed_at),
    finishedAt: isoDate(row.finished_at),
    // Last: a job's JSON begins as it did before uids (`{"id":42,"printerId":…`).
    uid: row.uid,
  };
}

export function toPrinterRecord(row: PrinterRow): PrinterRecord {
  return {
    id: row.id,
    state: row.state,
    condition: row.condition ?? null,
    detail: row.detail ?? null,
    columns: row.columns ?? null,
    codepage: row.codepage ?? null,
    lastSeenAt: isoDate(row.last_seen_at ?? null),
    agentInfo: row.agent_info ?? null,
  };
}
