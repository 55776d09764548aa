/**
 * What the page and API clients send, as zod schemas: the same schemas validate the requests and
 * describe them in GET /openapi.json (http/api/openapi.ts). Validation never throws, whatever the input; the
 * first problem found is reported, in the order the fields are declared.
 */
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { MAX_CONTENT_LENGTH } from '../../../protocol/messages';
import { JOB_STATUSES, type JobStatus } from '../../../protocol/states';
import { isPrinterId, PRINTER_ID_PATTERN } from '../../../protocol/topics';
import { isBlankContent } from '../../../protocol/receipt-limits';

/** `error` is for API clients (English, like the rest of the API); `errorFr` is what the French page shows. */
export type Validation<T> = { ok: true; value: T } | { ok: false; error: string; errorFr?: string; field?: string };

const EMPTY_FR = 'Le message est vide : tapez un texte à imprimer.';

export const frenchNumber = (n: number): string => n.toLocaleString('fr-FR');

/** A refusal with the page's French beside the API's English (carried in the issue's `params.fr`). */
function refuse(ctx: { value: unknown; issues: z.core.$ZodRawIssue[] }, message: string, fr?: string): void {
  ctx.issues.push({ code: 'custom', message, input: ctx.value, params: fr ? { fr } : undefined });
}

/** One message for whatever is wrong with a field (its type, its form, or a failed transform). */
const always = (message: string) => ({ error: () => message });

/** Runs `schema` on `input` and reports its first issue as a `Validation`. */
export function check<S extends z.ZodType>(schema: S, input: unknown): Validation<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const field = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
  const fr = (issue as { params?: { fr?: unknown } }).params?.fr;
  return {
    ok: false,
    error: issue.message,
    ...(typeof fr === 'string' ? { errorFr: fr } : {}),
    ...(field ? { field } : {}),
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

const PRINTER_ID_MESSAGE = '"printerId" must be 1-64 characters of A-Z a-z 0-9 _ -';

export const PrinterId = z
  .string(always(PRINTER_ID_MESSAGE))
  .regex(PRINTER_ID_PATTERN, always(PRINTER_ID_MESSAGE))
  .meta({ description: 'A printer: 1-64 characters of A-Z a-z 0-9 _ -', examples: ['printer-1'] });

const Content = z
  .string({
    error: (issue) =>
      issue.input === undefined ? '"content" is required' : `"content" must be a string, not ${describe(issue.input)}`,
  })
  .check((ctx) => {
    const content = ctx.value;
    if (content.trim() === '') return refuse(ctx, 'the message is empty: type some text to print', EMPTY_FR);
    const length = [...content].length;
    if (length > MAX_CONTENT_LENGTH)
      return refuse(
        ctx,
        `the message is ${length} characters long; the limit is ${MAX_CONTENT_LENGTH}`,
        `Le message fait ${frenchNumber(length)} caractères : la limite est de ${frenchNumber(MAX_CONTENT_LENGTH)}. Raccourcissez-le.`,
      );
    // Lone surrogates (`"\ud800"` in JSON) are not text: they would print as U+FFFD.
    if (/\p{Cs}/u.test(content))
      return refuse(
        ctx,
        'the message is not valid Unicode text (a lone surrogate such as \\ud800)',
        'Le message contient des caractères invalides.',
      );
    // Blank once cleaned as the agent cleans it: invisible, format and control characters print nothing.
    if (isBlankContent(content))
      refuse(
        ctx,
        'the message is empty once invisible and control characters are removed: type some text to print',
        EMPTY_FR,
      );
  })
  // JSON Schema counts characters (code points), as the check above does.
  .meta({
    description: 'The text to print (not blank once control characters are removed)',
    minLength: 1,
    maxLength: MAX_CONTENT_LENGTH,
    examples: ['Hello world'],
  });

export const PrintRequest = z
  .object(
    {
      content: Content,
      printerId: z
        .string({ error: (issue) => `"printerId" must be a string, not ${describe(issue.input)}` })
        .check((ctx) => {
          if (ctx.value !== '' && !isPrinterId(ctx.value)) refuse(ctx, PRINTER_ID_MESSAGE);
        })
        .transform((id) => (id === '' ? undefined : id))
        .optional()
        .meta({
          description: 'The printer; absent or empty: the default printer (DEFAULT_PRINTER_ID)',
          pattern: `^(${PRINTER_ID_PATTERN.source.slice(1, -1)})?$`,
          examples: ['printer-1'],
        }),
    },
    { error: 'the request body must be a JSON object such as {"content": "Hello world"}' },
  )
  .meta({ id: 'PrintRequest' });

export type PrintRequest = z.output<typeof PrintRequest>;

/**
 * PrintRequest's rules written out by hand, for every POST /print: zod walks its checks generically and builds
 * its result (about 3 µs a request, and a code-point array of the content). Returns what `PrintRequest`'s parse
 * returns (its keys, in its order), or null where the schema refuses: the schema then runs to say why (rare), so
 * the messages stay its own. test/broker-server/http/api/print-request.unit.test.ts compares both on many
 * generated bodies.
 */
export function checkPrintRequest(body: unknown): PrintRequest | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { content, printerId } = body as Record<string, unknown>;
  if (typeof content !== 'string' || content.trim() === '') return null;
  // Code points: at most the UTF-16 length, counted only when that is over the limit.
  if (content.length > MAX_CONTENT_LENGTH) {
    let points = 0;
    for (const _ of content) if (++points > MAX_CONTENT_LENGTH) return null;
  }
  if (LONE_SURROGATE.test(content) || isBlankContent(content)) return null;
  if (printerId === undefined || printerId === '')
    return 'printerId' in body ? { content, printerId: undefined } : { content };
  return isPrinterId(printerId) ? { content, printerId } : null;
}

const LONE_SURROGATE = /\p{Cs}/u;

export function validatePrintRequest(body: unknown): Validation<PrintRequest> {
  const value = checkPrintRequest(body);
  if (value !== null) return { ok: true, value };
  const checked = check(PrintRequest, body);
  // "content" missing is what the page sends when its field is empty.
  if (!checked.ok && checked.field === 'content' && checked.error === '"content" is required')
    return { ...checked, errorFr: EMPTY_FR };
  return checked;
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

const TIME_PATTERN = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function time(name: 'since' | 'until', description: string) {
  const message = `"${name}" must be a date or an ISO 8601 time with its zone, such as 2026-12-01 or 2026-12-01T08:00:00Z`;
  return z
    .string(always(message))
    .regex(TIME_PATTERN, always(message))
    .transform((raw, ctx) => {
      const d = new Date(raw);
      if (!Number.isNaN(d.getTime())) return d;
      ctx.issues.push({ code: 'custom', message, input: raw });
      return z.NEVER;
    })
    .optional()
    .meta({ description, examples: ['2026-12-01T08:00:00Z'] });
}

export const MAX_LIST_LIMIT = 500;
const DEFAULT_LIST_LIMIT = 50;

const CURSOR_MESSAGE = '"cursor" is not one this server gave (take it from the Link header of the previous page)';
const LIMIT_MESSAGE = `"limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}`;

/** GET /jobs's query; the declaration order is the order in which problems are reported. */
export const JobListQuery = z.object({
  printerId: PrinterId.optional().meta({ description: 'Only this printer’s jobs' }),
  since: time('since', 'Only jobs created at or after this time (a date is midnight UTC)'),
  until: time('until', 'Only jobs created before this time (a date is midnight UTC)'),
  cursor: z
    .string(always(CURSOR_MESSAGE))
    .transform((raw, ctx) => {
      const beforeId = decodeCursor(raw);
      if (beforeId !== null) return beforeId;
      ctx.issues.push({ code: 'custom', message: CURSOR_MESSAGE, input: raw });
      return z.NEVER;
    })
    .optional()
    .meta({
      description:
        'The next page: opaque, taken from the `Link: <...>; rel="next"` header of the previous page (the other filters stay the same)',
    }),
  status: z.enum(JOB_STATUSES, always(`"status" must be one of ${JOB_STATUSES.join(', ')}`)).optional(),
  limit: z
    .string(always(LIMIT_MESSAGE))
    .regex(/^\d+$/, always(LIMIT_MESSAGE))
    .transform(Number)
    .pipe(z.number().int().min(1, always(LIMIT_MESSAGE)).max(MAX_LIST_LIMIT, always(LIMIT_MESSAGE)))
    .optional()
    .meta({
      description: `Jobs per page, newest first: 1-${MAX_LIST_LIMIT}, ${DEFAULT_LIST_LIMIT} if absent`,
      examples: ['20'],
    }),
});

export interface JobListQuery {
  status?: JobStatus;
  printerId?: string;
  since?: Date;
  until?: Date;
  /** From the opaque `cursor` of the previous page. */
  beforeId?: number;
  limit: number;
}

export function validateJobListQuery(query: Record<string, unknown>): Validation<JobListQuery> {
  const checked = check(JobListQuery, query);
  if (!checked.ok) return checked;
  const { cursor, limit, ...filters } = checked.value;
  const out: JobListQuery = { limit: limit ?? DEFAULT_LIST_LIMIT };
  for (const [name, value] of Object.entries(filters)) if (value !== undefined) Object.assign(out, { [name]: value });
  if (cursor !== undefined) out.beforeId = cursor;
  return { ok: true, value: out };
}

/** A job id in a path or query: a positive whole number, as the database gives them. */
export const JobId = z
  .string()
  .regex(/^[1-9]\d{0,15}$/)
  .transform(Number)
  .pipe(z.number().int().max(Number.MAX_SAFE_INTEGER))
  .meta({ description: 'A job id', examples: ['42'] });

const JOB_ID_PATTERN = /^[1-9]\d{0,15}$/;

/** `JobId`'s rules without its schema's machinery (every GET /jobs/:id, what a polling client asks). */
export function parseJobId(raw: unknown): number | null {
  if (typeof raw !== 'string' || !JOB_ID_PATTERN.test(raw)) return null;
  const id = Number(raw);
  return id <= Number.MAX_SAFE_INTEGER ? id : null;
}

/** A request body that is not valid UTF-8: refused (400) rather than stored and printed with U+FFFD. */
export class InvalidUtf8Error extends Error {
  readonly type = 'utf8.invalid';
  constructor() {
    super('the body is not valid UTF-8: send the text in UTF-8');
  }
}

/** body-parser's `verify` for JSON bodies: the raw bytes must be UTF-8. */
export function verifyUtf8(_req: unknown, _res: unknown, body: Buffer): void {
  if (!isUtf8(body)) throw new InvalidUtf8Error();
}

/** body-parser's `verify` for forms: each percent-encoded value must decode to UTF-8 (`%FF%FE` is not). */
export function verifyUtf8Form(_req: unknown, _res: unknown, body: Buffer): void {
  const text = body.toString('latin1');
  if (!text.includes('%')) return verifyUtf8(_req, _res, body);
  const bytes = Buffer.from(
    text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
  if (!isUtf8(bytes)) throw new InvalidUtf8Error();
}
