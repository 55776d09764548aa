/** Validation of what the page and API clients send; never throws, whatever the input. */
import { MAX_CONTENT_LENGTH } from '../../protocol/messages';
import { JOB_STATUSES, isJobStatus, type JobStatus } from '../../protocol/states';
import { isPrinterId } from '../../protocol/topics';
import { isBlankContent } from '../../protocol/receipt-limits';

/** `error` is for API clients (English, like the rest of the API); `errorFr` is what the French page shows. */
export type Validation<T> = { ok: true; value: T } | { ok: false; error: string; errorFr?: string; field?: string };

const EMPTY_FR = 'Le message est vide : tapez un texte à imprimer.';

export const frenchNumber = (n: number): string => n.toLocaleString('fr-FR');

export interface PrintRequest {
  content: string;
  printerId?: string;
}

export function validatePrintRequest(body: unknown): Validation<PrintRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, error: 'the request body must be a JSON object such as {"content": "Hello world"}' };
  }
  const record = body as Record<string, unknown>;
  const content = record.content;
  if (content === undefined) return { ok: false, field: 'content', error: '"content" is required', errorFr: EMPTY_FR };
  if (typeof content !== 'string')
    return { ok: false, field: 'content', error: `"content" must be a string, not ${describe(content)}` };
  if (content.trim() === '')
    return { ok: false, field: 'content', error: 'the message is empty: type some text to print', errorFr: EMPTY_FR };
  const length = [...content].length;
  if (length > MAX_CONTENT_LENGTH) {
    return {
      ok: false,
      field: 'content',
      error: `the message is ${length} characters long; the limit is ${MAX_CONTENT_LENGTH}`,
      errorFr: `Le message fait ${frenchNumber(length)} caractères : la limite est de ${frenchNumber(MAX_CONTENT_LENGTH)}. Raccourcissez-le.`,
    };
  }
  // Blank once cleaned as the agent cleans it: zero-width and control characters print nothing.
  if (isBlankContent(content))
    return {
      ok: false,
      field: 'content',
      error: 'the message is empty once invisible and control characters are removed: type some text to print',
      errorFr: EMPTY_FR,
    };
  const printerId = record.printerId;
  if (printerId === undefined || printerId === '') return { ok: true, value: { content } };
  if (typeof printerId !== 'string')
    return { ok: false, field: 'printerId', error: `"printerId" must be a string, not ${describe(printerId)}` };
  if (!isPrinterId(printerId))
    return { ok: false, field: 'printerId', error: '"printerId" must be 1-64 characters of A-Z a-z 0-9 _ -' };
  return { ok: true, value: { content, printerId } };
}

export interface JobListQuery {
  status?: JobStatus;
  printerId?: string;
  since?: Date;
  until?: Date;
  /** From the opaque `cursor` of the previous page. */
  beforeId?: number;
  limit: number;
}

/** A page's cursor: opaque to clients (base64url of a small JSON), so its content can change later. */
export function encodeCursor(beforeId: number): string {
  return Buffer.from(JSON.stringify({ b: beforeId })).toString('base64url');
}

export function decodeCursor(cursor: string): number | null {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(cursor)) return null;
  try {
    const { b } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { b?: unknown };
    return typeof b === 'number' && Number.isSafeInteger(b) && b > 0 ? b : null;
  } catch {
    return null;
  }
}

function parseTime(raw: unknown): Date | null {
  if (
    typeof raw !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(raw)
  )
    return null;
  const d = new Date(raw);
  return Number.isNaN(d.getTime()) ? null : d;
}

export const MAX_LIST_LIMIT = 500;

export function validateJobListQuery(query: Record<string, unknown>): Validation<JobListQuery> {
  const { status, limit, printerId, since, until, cursor } = query;
  const out: JobListQuery = { limit: 50 };
  if (printerId !== undefined) {
    if (!isPrinterId(printerId))
      return { ok: false, field: 'printerId', error: '"printerId" must be 1-64 characters of A-Z a-z 0-9 _ -' };
    out.printerId = printerId;
  }
  for (const [name, raw] of [
    ['since', since],
    ['until', until],
  ] as const) {
    if (raw === undefined) continue;
    const d = parseTime(raw);
    if (!d)
      return {
        ok: false,
        field: name,
        error: `"${name}" must be a date or an ISO 8601 time with its zone, such as 2026-12-01 or 2026-12-01T08:00:00Z`,
      };
    out[name] = d;
  }
  if (cursor !== undefined) {
    const beforeId = typeof cursor === 'string' ? decodeCursor(cursor) : null;
    if (beforeId === null)
      return {
        ok: false,
        field: 'cursor',
        error: '"cursor" is not one this server gave (take it from the Link header of the previous page)',
      };
    out.beforeId = beforeId;
  }
  if (status !== undefined) {
    if (!isJobStatus(status))
      return { ok: false, field: 'status', error: `"status" must be one of ${JOB_STATUSES.join(', ')}` };
    out.status = status;
  }
  if (limit !== undefined) {
    const n = typeof limit === 'string' && /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIST_LIMIT)
      return { ok: false, field: 'limit', error: `"limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}` };
    out.limit = n;
  }
  return { ok: true, value: out };
}

export function parseJobId(raw: unknown): number | null {
  if (typeof raw !== 'string' || !/^[1-9]\d{0,15}$/.test(raw)) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
