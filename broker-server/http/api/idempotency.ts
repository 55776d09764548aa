/**
 * Idempotent job creation (`Idempotency-Key`, after the IETF HTTPAPI draft) on POST /print,
 * POST /jobs/:id/reprint and POST /printers/:id/test.
 *
 * - A key belongs to its caller's scope: `api-key:NAME` for a key's requests, `page` for the page's forms,
 *   `anonymous` for the JSON API without a key. Two callers using the same key never see each other's job.
 * - The first request inserts the key's row (store/idempotency-store.ts); the table's primary key lets one
 *   insert win, in one process or across instances on PostgreSQL. It creates the job and records it.
 * - The same key again with the same request (method, path and validated body, hashed): the same job and
 *   the original status code, with `Idempotency-Replayed: true`. With a different request: `422`.
 * - While the first request is still creating its job, a second one waits for it (up to `waitMs`), then
 *   answers `409`. A claim left unfinished for `abandonAfterMs` (its process died between the claim and
 *   the job) is released: the next request creates the job.
 * - A request that fails (4xx) releases its claim, so the caller can correct it and send it again.
 * - Keys are pruned `IDEMPOTENCY_KEY_HOURS` after their first use.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../../runtime/logger';
import type { PrintJob } from '../../jobs/job-service';
import type { IdempotencyRecord, IdempotencyStore } from '../../store/idempotency-store';
import { HttpError } from '../guards/errors';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotency-Replayed';
/** The form field the page's forms carry the key in (a form cannot set a header). */
export const IDEMPOTENCY_FIELD = 'idempotencyKey';
/**
 * The ids of the page's key fields, which the answer to an htmx send renews: the print form's; a reprint's
 * and a test print's are named after their job or printer.
 */
export const PRINT_KEY_FIELD = 'print-key';
export const reprintKeyField = (jobId: number): string => `reprint-key-${jobId}`;
export const testKeyField = (printerId: string): string => `test-key-${printerId}`;
export const MAX_KEY_LENGTH = 255;

export type KeyCheck = { ok: true; key: string | null } | { ok: false; error: string };

/**
 * The key as sent: 1-255 printable ASCII characters (no space). The draft's quoted structured-field form
 * `"abc"` is accepted and unquoted. The same schema describes the header in GET /openapi.json.
 */
export const IdempotencyKey = z
  .string({ error: `${IDEMPOTENCY_HEADER} must be given once` })
  .transform((raw) => (/^".*"$/.test(raw) ? raw.slice(1, -1) : raw))
  .check((ctx) => {
    const key = ctx.value;
    const problem =
      key.length === 0
        ? `${IDEMPOTENCY_HEADER} is empty`
        : key.length > MAX_KEY_LENGTH
          ? `${IDEMPOTENCY_HEADER} is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`
          : !/^[\x21-\x7e]+$/.test(key)
            ? `${IDEMPOTENCY_HEADER} must be printable ASCII without spaces (a UUID is a good key)`
            : null;
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: key });
  })
  .meta({
    description: `Makes the request idempotent: the same key with the same request returns the same job (with \`${REPLAYED_HEADER}: true\`) for IDEMPOTENCY_KEY_HOURS; with a different request, 422. 1-${MAX_KEY_LENGTH} printable ASCII characters, optionally quoted (a UUID is a good key).`,
    pattern: '^"?[\\x21-\\x7e]{1,255}"?$',
    examples: ['6f1c9a52-3b1e-4c52-9a57-0d3f2b8e1c44'],
  });

/** The key as sent: absent (null), or valid per `IdempotencyKey`. */
export function parseIdempotencyKey(raw: unknown): KeyCheck {
  if (raw === undefined) return { ok: true, key: null };
  const parsed = IdempotencyKey.safeParse(raw);
  return parsed.success ? { ok: true, key: parsed.data } : { ok: false, error: parsed.error.issues[0]!.message };
}

/** What makes two requests "the same": method, path and the validated body, in a stable order. */
export function requestHash(method: string, path: string, body: Record<string, unknown> = {}): string {
  const sorted = Object.fromEntries(
    Object.entries(body)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return createHash('sha256')
    .update(JSON.stringify([method.toUpperCase(), path, sorted]))
    .digest('hex');
}

export type Decision = 'replay' | 'mismatch' | 'in-flight' | 'abandoned';

/** What to do with a key that is already there. */
export function decide(record: IdempotencyRecord, hash: string, now: number, abandonAfterMs: number): Decision {
  if (record.requestHash !== hash) return 'mismatch';
  if (record.jobId !== null) return 'replay';
  return now - record.createdAt > abandonAfterMs ? 'abandoned' : 'in-flight';
}

export interface IdempotencyOptions {
  /** How long a key's record is kept (IDEMPOTENCY_KEY_HOURS, in ms). */
  keyMs: number;
  /** How long a request waits for the same key's request in flight. */
  waitMs?: number;
  pollMs?: number;
  abandonAfterMs?: number;
  now?: () => number;
}

export interface Outcome {
  job: PrintJob;
  statusCode: number;
  replayed: boolean;
}

export class Idempotency {
  readonly name = 'idempotency keys';
  private readonly log: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly options: IdempotencyOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'idempotency' });
    this.now = options.now ?? Date.now;
  }

  /** Creates the job once for (scope, key); without a key, simply creates it. */
  async once(
    scope: string,
    key: string | null,
    hash: string,
    create: () => Promise<PrintJob>,
    load: (id: number) => Promise<PrintJob | null>,
  ): Promise<Outcome> {
    if (key === null) return { job: await create(), statusCode: 201, replayed: false };
    const deadline = this.now() + (this.options.waitMs ?? 10_000);
    for (;;) {
      if (await this.store.claim(scope, key, hash, new Date(this.now()))) {
        let job: PrintJob;
        try {
          job = await create();
        } catch (err) {
          await this.store.release(scope, key);
          throw err;
        }
        await this.store.complete(scope, key, job.id, 201);
        return { job, statusCode: 201, replayed: false };
      }
      const record = await this.store.get(scope, key);
      if (!record) continue; // released or pruned meanwhile: claim again
      switch (decide(record, hash, this.now(), this.options.abandonAfterMs ?? 60_000)) {
        case 'mismatch':
          throw new HttpError(
            422,
            `this ${IDEMPOTENCY_HEADER} was already used for a different request; use a new key for a new job`,
            { field: IDEMPOTENCY_HEADER },
            'Ce formulaire a déjà été envoyé avec un autre contenu : rechargez la page.',
          );
        case 'replay': {
          const job = await load(record.jobId!);
          if (!job)
            throw new HttpError(410, `the job this ${IDEMPOTENCY_HEADER} created (${record.jobId}) has been deleted`);
          this.log.debug({ jobId: job.id, printerId: job.printerId, scope }, 'idempotent replay');
          return { job, statusCode: record.statusCode ?? 201, replayed: true };
        }
        case 'abandoned':
          if (
            await this.store.releaseAbandoned(
              scope,
              key,
              new Date(this.now() - (this.options.abandonAfterMs ?? 60_000)),
            )
          )
            this.log.warn({ scope }, 'an abandoned idempotency key was released');
          else await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 50)); // another request took it over
          continue;
        case 'in-flight':
          if (this.now() >= deadline)
            throw new HttpError(
              409,
              `a request with this ${IDEMPOTENCY_HEADER} is still being processed; send it again in a moment`,
              { field: IDEMPOTENCY_HEADER },
            );
          await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 50));
      }
    }
  }

  /** Retention: forgets keys older than IDEMPOTENCY_KEY_HOURS, at start-up then every 10 minutes. */
  start(): void {
    void this.pruneNow();
    this.timer = setInterval(() => void this.pruneNow(), 10 * 60_000);
    this.timer.unref();
  }

  async pruneNow(): Promise<number> {
    try {
      const count = await this.store.prune(new Date(this.now() - this.options.keyMs));
      if (count) this.log.info({ count }, 'old idempotency keys pruned');
      return count;
    } catch (err) {
      this.log.error({ err }, 'pruning idempotency keys failed');
      return 0;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
