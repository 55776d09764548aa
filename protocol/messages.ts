/** Payload schemas of every topic, validated on receipt by both sides. */
import { z } from 'zod';

export const MAX_CONTENT_LENGTH = 4000;
/** A payload larger than this is dropped unread: a job's content is at most 4,000 characters. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date');
const jobId = z.number().int().positive();

/** `message` (the default) prints the content; `test` prints the agent's test receipt for its printer. */
export const JOB_KINDS = ['message', 'test'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const jobMessageSchema = z.object({
  id: jobId,
  content: z.string().max(MAX_CONTENT_LENGTH),
  createdAt: isoDate,
  kind: z.enum(JOB_KINDS).optional(),
});
export type JobMessage = z.infer<typeof jobMessageSchema>;

export const ACK_STATUSES = ['received', 'printed', 'failed', 'interrupted'] as const;
export type AckStatus = (typeof ACK_STATUSES)[number];

export const ackMessageSchema = z.object({
  id: jobId,
  status: z.enum(ACK_STATUSES),
  at: isoDate,
  error: z.string().max(1000).optional(),
  /** The printing system's own reference for the job, when it has one (CUPS: `QUEUE-123`). */
  printerJob: z.string().max(128).optional(),
});
export type AckMessage = z.infer<typeof ackMessageSchema>;

export const PRINTER_STATES = ['online', 'offline'] as const;
export type PrinterState = (typeof PRINTER_STATES)[number];

/**
 * What the agent knows of the printer itself. `unavailable`: it cannot be opened; `unknown`: it can,
 * but does not say how it is (no read-back, or no answer within 500 ms). The others are its own answers.
 */
export const PRINTER_CONDITIONS = [
  'ok',
  'paper-low',
  'paper-out',
  'cover-open',
  'offline',
  'unknown',
  'unavailable',
] as const;
export type PrinterCondition = (typeof PRINTER_CONDITIONS)[number];

/** The French words the page shows. */
export const PRINTER_CONDITION_LABELS_FR: Record<PrinterCondition, string> = {
  ok: 'prête',
  'paper-low': 'bientôt plus de papier',
  'paper-out': 'plus de papier',
  'cover-open': 'capot ouvert',
  offline: 'en erreur (hors ligne)',
  unknown: 'état inconnu',
  unavailable: 'injoignable',
};

export const statusMessageSchema = z.object({
  state: z.enum(PRINTER_STATES),
  at: isoDate.optional(),
  /** A PrinterCondition; any other word from a newer agent is kept as it is. */
  printer: z.string().max(64).optional(),
  detail: z.string().max(500).optional(),
  version: z.string().max(64).optional(),
  /** `linux-arm64`, `win32-x64`, …: where the agent runs (added in issue 23). */
  platform: z.string().max(32).optional(),
  columns: z.number().int().positive().max(255).optional(),
  codepage: z.string().max(32).optional(),
  /** Seconds since the agent started (added in issue 14; older agents send none of the fields below). */
  uptimeS: z.number().int().min(0).optional(),
  /** Jobs the agent's journal holds. */
  journalSize: z.number().int().min(0).optional(),
  /** The last job printed: its id, when, and how long it took from its arrival to the paper (ms). */
  lastJob: z.object({ id: jobId, at: isoDate, ms: z.number().int().min(0) }).optional(),
});
export type StatusMessage = z.infer<typeof statusMessageSchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

function parseWith<T>(schema: z.ZodType<T>, payload: Buffer | string): ParseResult<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD_BYTES) return { ok: false, error: `payload of ${size} bytes is over ${MAX_PAYLOAD_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length ? issue.path.join('.') + ': ' : '';
    return { ok: false, error: `invalid payload: ${where}${issue?.message ?? 'unknown error'}` };
  }
  return { ok: true, value: result.data };
}

export const parseJobMessage = (payload: Buffer | string) => parseWith(jobMessageSchema, payload);
export const parseAckMessage = (payload: Buffer | string) => parseWith(ackMessageSchema, payload);
export const parseStatusMessage = (payload: Buffer | string) => parseWith(statusMessageSchema, payload);

export const encodeMessage = (message: JobMessage | AckMessage | StatusMessage): string => JSON.stringify(message);
