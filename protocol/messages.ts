/**
 * Payload schemas of every topic, validated on receipt by both sides.
 *
 * The agent evaluates no zod (issue 22: about 2.5 MB of its memory idle, more with its source): it reads job
 * messages with the hand-written check below, which words a refusal as the schema would, and uses nothing
 * else here that needs zod. Each schema is built inside a function call marked pure, so that esbuild leaves
 * out of the agent's bundle every schema the agent does not use, and zod with them
 * (test/agent/agent-footprint.test.ts loads the built agent and checks that zod is not evaluated).
 */
import { z } from 'zod';

export const MAX_CONTENT_LENGTH = 4000;
/** A payload larger than this is dropped unread: a job's content is at most 4,000 characters. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

// Functions rather than shared schemas: a call at the top level would keep zod in the agent's bundle.
const ISO_DATE_RULE = 'must be an ISO date';
const isoDate = () => z.string().refine((s) => !Number.isNaN(Date.parse(s)), ISO_DATE_RULE);
const jobId = () => z.number().int().positive();
/**
 * A job's identity across databases (issue 24): a UUID the server makes when it stores the job (version 7
 * since issue 22: its time, then 74 random bits; version 4, all random, before; either is accepted). Integer ids start over when a database is replaced and repeat after a restore; these never do, so
 * the agent's journal and the server's ack matching use them. Optional in the schema only so that each side
 * can recognise the other side's previous protocol and say which one to upgrade (JOB_PROTOCOL).
 */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_RULE = 'must be a UUID';
export const jobUid = /* @__PURE__ */ (() => z.string().regex(UUID_PATTERN, UUID_RULE))();
/**
 * The job protocol both sides speak: 2 = jobs and acks carry `uid`. An agent says it in its status; a
 * server that sends jobs without `uid`, or an agent whose acks lack it, speaks 1 (before issue 24).
 */
export const JOB_PROTOCOL = 2;

/** `message` (the default) prints the content; `test` prints the agent's test receipt for its printer. */
export const JOB_KINDS = ['message', 'test'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const jobMessageSchema = /* @__PURE__ */ (() =>
  z.object({
    id: jobId(),
    uid: jobUid.optional(),
    content: z.string().max(MAX_CONTENT_LENGTH),
    createdAt: isoDate(),
    kind: z.enum(JOB_KINDS).optional(),
  }))();
export type JobMessage = z.infer<typeof jobMessageSchema>;

export const ACK_STATUSES = ['received', 'printed', 'failed', 'interrupted'] as const;
export type AckStatus = (typeof ACK_STATUSES)[number];

export const ackMessageSchema = /* @__PURE__ */ (() =>
  z.object({
    id: jobId(),
    /** The job's `uid`; absent only from agents of protocol 1, whose acks the server refuses. */
    uid: jobUid.optional(),
    status: z.enum(ACK_STATUSES),
    at: isoDate(),
    error: z.string().max(1000).optional(),
    /** The printing system's own reference for the job, when it has one (CUPS: `QUEUE-123`). */
    printerJob: z.string().max(128).optional(),
  }))();
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
export const agentIdentitySchema = /* @__PURE__ */ (() =>
  z.object({
    instance: z.string().min(1).max(64),
    host: z.string().max(255),
    takeover: z.boolean().optional(),
  }))();
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

export const agentFaultSchema = /* @__PURE__ */ (() =>
  z.object({
    /** An AgentFaultCode; any other word from a newer agent is kept as it is. */
    code: z.string().max(64),
    /** In plain words, in English: what is wrong and what it holds up. */
    detail: z.string().max(500),
    /** Since when. */
    since: isoDate(),
    /** Jobs it holds up on the agent (taken again once the cause goes). */
    waiting: z.number().int().min(0).optional(),
  }))();
export type AgentFault = z.infer<typeof agentFaultSchema>;

export const statusMessageSchema = /* @__PURE__ */ (() =>
  z.object({
    state: z.enum(PRINTER_STATES),
    agent: agentIdentitySchema.optional(),
    at: isoDate().optional(),
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
    lastJob: z.object({ id: jobId(), at: isoDate(), ms: z.number().int().min(0) }).optional(),
    /**
     * `degraded` while something keeps the agent from moving jobs (issue 25; older agents send none): `fault`
     * says what, and both clear by themselves once the cause goes. Older servers ignore both fields.
     */
    health: z.enum(['ok', 'degraded']).optional(),
    fault: agentFaultSchema.optional(),
  }))();
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

/*
 * The same rules as jobMessageSchema and ackMessageSchema, written out by hand for the messages of every
 * job (the agent reads one per job, the server one ack or two): zod builds its result and walks its
 * checks generically, which cost the agent about a tenth of a job's JavaScript. Each returns what the
 * schema's parse returns (its keys only, in its order), or null where the schema refuses: the schema then
 * runs to say why (rare), so the errors stay zod's. test/protocol/fast-checks.unit.test.ts compares both
 * on many generated messages.
 */

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
/** zod's max length: Unicode code points, counted only when the UTF-16 length is over. */
const fitsLength = (value: unknown, max: number): value is string => {
  if (typeof value !== 'string') return false;
  if (value.length <= max) return true;
  let points = 0;
  for (const _ of value) if (++points > max) return false;
  return true;
};
const isJobId = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;
const isIsoDate = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));
const isUid = (value: unknown): value is string => typeof value === 'string' && UUID_PATTERN.test(value);

export function checkJobMessage(json: unknown): JobMessage | null {
  if (!isObject(json)) return null;
  const { id, uid, content, createdAt, kind } = json;
  if (!isJobId(id) || !fitsLength(content, MAX_CONTENT_LENGTH) || !isIsoDate(createdAt)) return null;
  if (uid !== undefined && !isUid(uid)) return null;
  if (kind !== undefined && kind !== 'message' && kind !== 'test') return null;
  const job: JobMessage = { id } as JobMessage;
  if (uid !== undefined) job.uid = uid;
  job.content = content;
  job.createdAt = createdAt;
  if (kind !== undefined) job.kind = kind;
  return job;
}

export function checkAckMessage(json: unknown): AckMessage | null {
  if (!isObject(json)) return null;
  const { id, uid, status, at, error, printerJob } = json;
  if (!isJobId(id) || !isIsoDate(at) || !(ACK_STATUSES as readonly unknown[]).includes(status)) return null;
  if (uid !== undefined && !isUid(uid)) return null;
  if (error !== undefined && !fitsLength(error, 1000)) return null;
  if (printerJob !== undefined && !fitsLength(printerJob, 128)) return null;
  const ack: AckMessage = { id } as AckMessage;
  if (uid !== undefined) ack.uid = uid;
  ack.status = status as AckStatus;
  ack.at = at;
  if (error !== undefined) ack.error = error;
  if (printerJob !== undefined) ack.printerJob = printerJob;
  return ack;
}

/**
 * Why jobMessageSchema refuses `json`, in zod's words for its first issue (the fields in the schema's order),
 * for a message checkJobMessage refused: the agent words a refused job without evaluating zod.
 * test/protocol/fast-checks.unit.test.ts compares the two on many generated messages, refusals included.
 */
export function jobMessageRefusal(json: unknown): string {
  const received = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
  const expected = (type: string, value: unknown) => `Invalid input: expected ${type}, received ${received(value)}`;
  if (!isObject(json)) return expected('object', json);
  const { id, uid, content, createdAt, kind } = json;
  if (typeof id !== 'number') return `id: ${expected('number', id)}`;
  if (!Number.isInteger(id)) return 'id: Invalid input: expected int, received number';
  if (id > Number.MAX_SAFE_INTEGER) return `id: Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`;
  if (id < Number.MIN_SAFE_INTEGER) return `id: Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`;
  if (id <= 0) return 'id: Too small: expected number to be >0';
  if (uid !== undefined) {
    if (typeof uid !== 'string') return `uid: ${expected('string', uid)}`;
    if (!UUID_PATTERN.test(uid)) return `uid: ${UUID_RULE}`;
  }
  if (typeof content !== 'string') return `content: ${expected('string', content)}`;
  if (!fitsLength(content, MAX_CONTENT_LENGTH))
    return `content: Too big: expected string to have <=${MAX_CONTENT_LENGTH} characters`;
  if (typeof createdAt !== 'string') return `createdAt: ${expected('string', createdAt)}`;
  if (!isIsoDate(createdAt)) return `createdAt: ${ISO_DATE_RULE}`;
  if (kind !== undefined && !(JOB_KINDS as readonly unknown[]).includes(kind))
    return `kind: Invalid option: expected one of ${JOB_KINDS.map((k) => JSON.stringify(k)).join('|')}`;
  return 'unknown error';
}

/** The payload's size and JSON, then a hand-written check; what it refuses is worded by `refuse`. */
function parseChecked<T>(
  check: (json: unknown) => T | null,
  refuse: (json: unknown) => ParseResult<T>,
  payload: Buffer | string,
): ParseResult<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD_BYTES) return { ok: false, error: `payload of ${size} bytes is over ${MAX_PAYLOAD_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const value = check(json);
  return value ? { ok: true, value } : refuse(json);
}

/** parseWith, with a hand-written check tried first; the schema runs only for what the check refuses. */
const parseFast = <T>(check: (json: unknown) => T | null, schema: z.ZodType<T>, payload: Buffer | string) =>
  parseChecked(check, () => parseWith(schema, payload), payload);

/** Zod-free (the agent's): the hand-written check, and its refusals worded as the schema words them. */
export const parseJobMessage = (payload: Buffer | string) =>
  parseChecked<JobMessage>(
    checkJobMessage,
    (json) => ({ ok: false, error: `invalid payload: ${jobMessageRefusal(json)}` }),
    payload,
  );
export const parseAckMessage = (payload: Buffer | string) => parseFast(checkAckMessage, ackMessageSchema, payload);
/** The schema alone (what parseJobMessage and parseAckMessage did before their hand-written checks): for the tests. */
export const parseJobMessageWithSchema = (payload: Buffer | string) => parseWith(jobMessageSchema, payload);
export const parseAckMessageWithSchema = (payload: Buffer | string) => parseWith(ackMessageSchema, payload);
export const parseStatusMessage = (payload: Buffer | string) => parseWith(statusMessageSchema, payload);

export const encodeMessage = (message: JobMessage | AckMessage | StatusMessage): string => JSON.stringify(message);
