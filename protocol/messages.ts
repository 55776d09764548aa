/** Payload schemas of every topic, validated on receipt by both sides. */
import { z } from 'zod';

export const MAX_CONTENT_LENGTH = 4000;
/** A payload larger than this is dropped unread: a job's content is at most 4,000 characters. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date');
const jobId = z.number().int().positive();

export const jobMessageSchema = z.object({
  id: jobId,
  content: z.string().max(MAX_CONTENT_LENGTH),
  createdAt: isoDate,
});
export type JobMessage = z.infer<typeof jobMessageSchema>;

export const ACK_STATUSES = ['received', 'printed', 'failed', 'interrupted'] as const;
export type AckStatus = (typeof ACK_STATUSES)[number];

export const ackMessageSchema = z.object({
  id: jobId,
  status: z.enum(ACK_STATUSES),
  at: isoDate,
  error: z.string().max(1000).optional(),
});
export type AckMessage = z.infer<typeof ackMessageSchema>;

export const PRINTER_STATES = ['online', 'offline'] as const;
export type PrinterState = (typeof PRINTER_STATES)[number];

export const statusMessageSchema = z.object({
  state: z.enum(PRINTER_STATES),
  at: isoDate.optional(),
  /** What the agent knows of the printer itself: `ok`, `unavailable`, `paper-out`, ... */
  printer: z.string().max(64).optional(),
  detail: z.string().max(500).optional(),
  version: z.string().max(64).optional(),
  columns: z.number().int().positive().max(255).optional(),
  codepage: z.string().max(32).optional(),
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
