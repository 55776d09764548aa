/** Payload schemas of every topic, validated on receipt by both sides. */
import { z } from 'zod';

export const MAX_CONTENT_LENGTH = 4000;
/** A payload larger than this is dropped unread: a job's content is at most 4,000 characters. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date');
const jobId = z.number().int().positive();
/**
 * A job's identity across databases (issue 24): a random 128-bit id (UUID) the server makes when it stores
 * the job. Integer ids start over when a database is replaced and repeat after a restore; these never do, so
 * the agent's journal and the server's ack matching use them. Optional in the schema only so that each side
 * can recognise the other side's previous protocol and say which one to upgrade (JOB_PROTOCOL).
 */
export const jobUid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a UUID');
/**
 * The job protocol both sides speak: 2 = jobs and acks carry `uid`. An agent says it in its status; a
 * server that sends jobs without `uid`, or an agent whose acks lack it, speaks 1 (before issue 24).
 */
export const JOB_PROTOCOL = 2;

/** `message` (the default) prints the content; `test` prints the agent's test receipt for its printer. */
export const JOB_KINDS = ['message', 'test'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const jobMessageSchema = z.object({
  id: jobId,
  uid: jobUid.optional(),
  content: z.string().max(MAX_CONTENT_LENGTH),
  createdAt: isoDate,
  kind: z.enum(JOB_KINDS).optional(),
});
export type JobMessage = z.infer<typeof jobMessageSchema>;

export const ACK_STATUSES = ['received', 'printed', 'failed', 'interrupted'] as const;
export type AckStatus = (typeof ACK_STATUSES)[number];

export const ackMessageSchema = z.object({
  id: jobId,
  /** The job's `uid`; absent only from agents of protocol 1, whose acks the server refuses. */
  uid: jobUid.optional(),
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

/**
 * Which agent is speaking (issue 24): its machine and this run of it (a random id per start). In its
 * status and in its Last Will, which the broker reads at CONNECT: a second agent started with the same
 * printer id and token is told apart from the same agent reconnecting. `takeover` (in the will only, on the
 * first connection of an agent started with --takeover): it asks to replace the agent holding the session.
 */
export const agentIdentitySchema = z.object({
  instance: z.string().min(1).max(64),
  host: z.string().max(255),
  takeover: z.boolean().optional(),
});
export type AgentIdentity = z.infer<typeof agentIdentitySchema>;

/**
 * What keeps an agent from moving jobs, in its own words (issue 25): its journal cannot be written, the
 * printer cannot be opened or stopped taking bytes. Any other word from a newer agent is kept as it is.
 */
export const AGENT_FAULT_CODES = [
  'disk-full',
  'disk-read-only',
  'disk-denied',
  'journal-error',
  'printer-unavailable',
  'printer-stalled',
] as const;
export type AgentFaultCode = (typeof AGENT_FAULT_CODES)[number];

/** The French words the page shows next to the printer. */
export const AGENT_FAULT_LABELS_FR: Record<AgentFaultCode, string> = {
  'disk-full': 'disque plein sur le PC de l’imprimante',
  'disk-read-only': 'disque en lecture seule sur le PC de l’imprimante',
  'disk-denied': 'journal non modifiable (droits) sur le PC de l’imprimante',
  'journal-error': 'journal de l’agent impossible à écrire sur le PC de l’imprimante',
  'printer-unavailable': 'imprimante injoignable',
  'printer-stalled': 'l’imprimante ne prend plus les données',
};

export const agentFaultSchema = z.object({
  /** An AgentFaultCode; any other word from a newer agent is kept as it is. */
  code: z.string().max(64),
  /** In plain words, in English: what is wrong and what it holds up. */
  detail: z.string().max(500),
  /** Since when. */
  since: isoDate,
  /** Jobs it holds up on the agent (taken again once the cause goes). */
  waiting: z.number().int().min(0).optional(),
});
export type AgentFault = z.infer<typeof agentFaultSchema>;

export const statusMessageSchema = z.object({
  state: z.enum(PRINTER_STATES),
  agent: agentIdentitySchema.optional(),
  at: isoDate.optional(),
  /** A PrinterCondition; any other word from a newer agent is kept as it is. */
  printer: z.string().max(64).optional(),
  detail: z.string().max(500).optional(),
  version: z.string().max(64).optional(),
  /** JOB_PROTOCOL of the agent; absent from agents before issue 24 (protocol 1). */
  protocol: z.number().int().positive().max(1000).optional(),
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
  /**
   * `degraded` while something keeps the agent from moving jobs (issue 25; older agents send none): `fault`
   * says what, and both clear by themselves once the cause goes. Older servers ignore both fields.
   */
  health: z.enum(['ok', 'degraded']).optional(),
  fault: agentFaultSchema.optional(),
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
