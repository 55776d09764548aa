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
  if (typeof content !== 'string') return { ok: false, field: 'content', error: `"content" must be a string, not ${describe(content)}` };
  if (content.trim() === '') return { ok: false, field: 'content', error: 'the message is empty: type some text to print', errorFr: EMPTY_FR };
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
  if (isBlankContent(content)) return { ok: false, field: 'content', error: 'the message is empty once invisible and control characters are removed: type some text to print', errorFr: EMPTY_FR };
  const printerId = record.printerId;
  if (printerId === undefined || printerId === '') return { ok: true, value: { content } };
  if (typeof printerId !== 'string') return { ok: false, field: 'printerId', error: `"printerId" must be a string, not ${describe(printerId)}` };
  if (!isPrinterId(printerId)) return { ok: false, field: 'printerId', error: '"printerId" must be 1-64 characters of A-Z a-z 0-9 _ -' };
  return { ok: true, value: { content, printerId } };
}

export interface JobListQuery {
  status?: JobStatus;
  limit: number;
}

export const MAX_LIST_LIMIT = 500;

export function validateJobListQuery(query: Record<string, unknown>): Validation<JobListQuery> {
  const { status, limit } = query;
  const out: JobListQuery = { limit: 50 };
  if (status !== undefined) {
    if (!isJobStatus(status)) return { ok: false, field: 'status', error: `"status" must be one of ${JOB_STATUSES.join(', ')}` };
    out.status = status;
  }
  if (limit !== undefined) {
    const n = typeof limit === 'string' && /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIST_LIMIT) return { ok: false, field: 'limit', error: `"limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}` };
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
