/**
 * The door to `webhook_endpoints` and `webhook_deliveries`, for SQLite and PostgreSQL.
 *
 * Queueing: an endpoint's cursor (`last_event_id`) and the deliveries read after it are written
 * together. On PostgreSQL, in one transaction that holds the endpoint's row (`FOR UPDATE SKIP LOCKED`:
 * with several instances, whichever comes first does it, the others skip it). On SQLite (one instance;
 * no BEGIN of ours: the plan reads the event log meanwhile, through the same client), the two statements
 * run in order, deliveries first; the unique key (endpoint_id, event_id) makes a repeat after a crash
 * between them a no-op, so nothing is lost nor queued twice.
 *
 * Delivering: due rows are claimed with one UPDATE (`status = 'delivering'`, a lease, `attempts + 1`;
 * on PostgreSQL over `FOR UPDATE SKIP LOCKED` rows, so two instances never claim the same one). The
 * attempt number is the claim's fence: a result is written only while the row is still that claim's, so
 * an instance that comes back after its lease ran out cannot overwrite the newer attempt.
 */
import { withoutUrlCredentials } from '../../runtime/logger';
import type { SqlClient, SqlRunner } from '../db/sql-client';
import { statementChunks } from '../db/statement-chunks';

/**
 * The `webhook-id` of an event: the same for every attempt, so that a receiver can drop repeats. The event's
 * number, then 8 random hex digits of its job's uid (job-rules.ts `uidTag`): a database replaced or restored from a backup hands
 * event numbers out again, never uids, so a new change never takes the id of one a receiver already has
 * (DESIGN.md, "Replaced or restored database"). `uidTag`: from `uidTagOf(payload)`, or a column holding it.
 */
export const webhookId = (eventId: number, uidTag: string | null): string =>
  uidTag ? `evt_${eventId}_${uidTag}` : `evt_${eventId}`;

export const DELIVERY_STATUSES = ['pending', 'delivering', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookEndpoint {
  id: number;
  url: string;
  /** `*` or event types, comma separated. */
  events: string;
  lastEventId: number;
  createdAt: string;
  removedAt: string | null;
}

export interface NewDelivery {
  eventId: number;
  jobId: number;
  printerId: string;
  type: string;
  payload: string;
}

/** A delivery this instance holds for one attempt. */
export interface ClaimedDelivery extends NewDelivery {
  id: number;
  endpointId: number;
  /** Including this one: the claim's fence. */
  attempts: number;
  /** Epoch ms it was queued (the retry window counts from here). */
  createdAt: number;
}

/** A delivery as the API and the command show it (no payload, no secret). */
export interface WebhookDelivery {
  id: number;
  endpointId: number;
  eventId: number;
  webhookId: string;
  type: string;
  jobId: number;
  printerId: string;
  status: DeliveryStatus;
  attempts: number;
  /** When it is tried next (pending), else null. */
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  endpointId?: number;
  /** Only ids below this (the next page, newest first). */
  beforeId?: number;
  limit: number;
}

/** What one attempt came to: `retry` (tried again at `nextAttemptAt`), `delivered` (2xx) or `failed` (no more tries). */
export const ATTEMPT_OUTCOMES = ['delivered', 'retry', 'failed'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One attempt as the dispatcher records it (times in epoch ms). */
export interface NewAttempt {
  deliveryId: number;
  endpointId: number;
  attempt: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: AttemptOutcome;
  nextAttemptAt: number | null;
}

/** One attempt as the admin page, the admin API and the command show it: the delivery log. */
export interface WebhookAttempt {
  id: number;
  deliveryId: number;
  endpointId: number;
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: AttemptOutcome;
  nextAttemptAt: string | null;
}

export interface AttemptFilter {
  deliveryId?: number;
  endpointId?: number;
  limit: number;
}

/** Why "retry now" was refused: no such delivery, or one that cannot be sent again. */
export type RetryRefusal = 'missing' | 'delivered' | 'delivering' | 'payload-dropped' | 'endpoint-removed';

/** What queueing one endpoint reads and decides, given its cursor; null: nothing to do. */
export type QueuePlan = (endpoint: {
  events: string;
  lastEventId: number;
}) => Promise<{ deliveries: NewDelivery[]; lastEventId: number } | null>;

export interface WebhookStore {
  addEndpoint(url: string, events: string, secretSealed: string, at: Date): Promise<WebhookEndpoint>;
  /** Active endpoints, or all with `includeRemoved`, by id. */
  endpoints(includeRemoved?: boolean): Promise<WebhookEndpoint[]>;
  /** An active endpoint with its sealed secret, or null. */
  endpointForSending(id: number): Promise<{ url: string; secretSealed: string } | null>;
  /** False when no active endpoint has this id. Its waiting deliveries become `failed`. */
  removeEndpoint(id: number, at: Date): Promise<boolean>;
  /** Queues one endpoint's new events; the number queued, or null when another instance holds the endpoint. */
  queue(endpointId: number, plan: QueuePlan, at: Date): Promise<number | null>;
  /** Active endpoints with a delivery due at `now` (pending and due, or delivering with its lease run out). */
  dueEndpoints(now: number): Promise<number[]>;
  claim(endpointId: number, now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Each result: false when the claim was no longer this attempt's (its lease ran out and another took it). */
  delivered(claim: ClaimedDelivery, statusCode: number, at: number): Promise<boolean>;
  retryLater(claim: ClaimedDelivery, nextAt: number, statusCode: number | null, error: string): Promise<boolean>;
  failed(claim: ClaimedDelivery, statusCode: number | null, error: string): Promise<boolean>;
  /** Gives a claim back (the server stops): due at `now`, for whichever instance runs next. */
  release(claim: ClaimedDelivery, now: number): Promise<void>;
  /** Newest first. */
  deliveries(filter: DeliveryFilter): Promise<WebhookDelivery[]>;
  /** Writes one attempt into the delivery log (after its result was settled). */
  recordAttempt(attempt: NewAttempt): Promise<void>;
  /** The delivery log, newest first. */
  attempts(filter: AttemptFilter): Promise<WebhookAttempt[]>;
  /**
   * "Retry now": a pending or failed delivery of an active endpoint becomes due at `now` (a failed one gets one
   * more attempt, failed again if it fails past its window); null when done, else why not.
   */
  retryNow(deliveryId: number, now: number): Promise<RetryRefusal | null>;
  /** When the next delivery of an active endpoint falls due (pending, or a claim's lease running out); null: none waits. */
  nextDueAt(): Promise<number | null>;
  /** Deletes the deliveries queued before `before` (epoch ms) that are finished or of a removed endpoint, and their attempts; returns how many deliveries. */
  pruneDeliveries(before: number): Promise<number>;
  /**
   * Empties the payload of the finished deliveries (delivered, failed) queued before `before`: the row stays
   * for GET /webhooks/deliveries, the job's text does not (WEBHOOK_PAYLOAD_DAYS), nor its attempts; returns how many.
   */
  dropPayloads(before: number): Promise<number>;
}

interface EndpointRow {
  id: number;
  url: string;
  events: string;
  secret_sealed: string;
  last_event_id: number | string;
  created_at: number | string;
  removed_at: number | string | null;
}

interface DeliveryRow {
  id: number;
  /** The job uid's tag (job-rules.ts `uidTag`), read from the payload (null once the payload is emptied). */
  uid_tag: string | null;
  endpoint_id: number;
  event_id: number | string;
  job_id: number;
  printer_id: string;
  type: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | string;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number | string;
  delivered_at: number | string | null;
}

interface AttemptRow {
  id: number;
  delivery_id: number;
  endpoint_id: number;
  attempt: number;
  started_at: number | string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: AttemptOutcome;
  next_attempt_at: number | string | null;
}

const iso = (ms: number | string | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

const toEndpoint = (row: EndpointRow): WebhookEndpoint => ({
  id: Number(row.id),
  url: row.url,
  events: row.events,
  lastEventId: Number(row.last_event_id),
  createdAt: iso(row.created_at)!,
  removedAt: iso(row.removed_at),
});

const toClaim = (row: DeliveryRow): ClaimedDelivery => ({
  id: Number(row.id),
  endpointId: Number(row.endpoint_id),
  eventId: Number(row.event_id),
  jobId: Number(row.job_id),
  printerId: row.printer_id,
  type: row.type,
  payload: row.payload,
  attempts: Number(row.attempts),
  createdAt: Number(row.created_at),
});

const toDelivery = (row: DeliveryRow): WebhookDelivery => ({
  id: Number(row.id),
  endpointId: Number(row.endpoint_id),
  eventId: Number(row.event_id),
  webhookId: webhookId(Number(row.event_id), row.uid_tag),
  type: row.type,
  jobId: Number(row.job_id),
  printerId: row.printer_id,
  status: row.status,
  attempts: Number(row.attempts),
  nextAttemptAt: row.status === 'pending' ? iso(row.next_attempt_at) : null,
  lastStatusCode: row.last_status_code === null ? null : Number(row.last_status_code),
  // Masked on the way out too: a row written before errors were masked may still carry a URL's password.
  lastError: row.last_error === null ? null : withoutUrlCredentials(row.last_error),
  createdAt: iso(row.created_at)!,
  deliveredAt: iso(row.delivered_at),
});

const toAttempt = (row: AttemptRow): WebhookAttempt => ({
  id: Number(row.id),
  deliveryId: Number(row.delivery_id),
  endpointId: Number(row.endpoint_id),
  attempt: Number(row.attempt),
  at: iso(row.started_at)!,
  durationMs: Number(row.duration_ms),
  statusCode: row.status_code === null ? null : Number(row.status_code),
  error: row.error === null ? null : withoutUrlCredentials(row.error),
  outcome: row.outcome,
  nextAttemptAt: iso(row.next_attempt_at),
});

/** Pending and due, or claimed by an instance whose lease has run out. */
const DUE = `((status = 'pending' AND next_attempt_at <= $1) OR (status = 'delivering' AND lease_until < $1))`;
/** Error texts are cut to this many characters. */
const MAX_ERROR = 500;

export class SqlWebhookStore implements WebhookStore {
  constructor(private readonly sql: SqlClient) {}

  /** SQL of a delivery's uid tag (webhook-events.ts `uidTagOf`), read from its payload without loading it. */
  private get uidTagSql(): string {
    // job-rules.ts `uidTag`: the last 8 digits of a version 7 uid (its 15th character is 7), else the first 8.
    return this.sql.dialect === 'postgres'
      ? `CASE WHEN payload ~ '"uid":"[0-9a-f]{8}-[0-9a-f]{4}-7'
          THEN substring(payload from '"uid":"[0-9a-f-]{28}([0-9a-f]{8})"')
          ELSE substring(payload from '"uid":"([0-9a-f]{8})-') END`
      : `CASE WHEN instr(payload, '"uid":"') > 0 THEN
          CASE substr(payload, instr(payload, '"uid":"') + 21, 1)
            WHEN '7' THEN substr(payload, instr(payload, '"uid":"') + 35, 8)
            ELSE substr(payload, instr(payload, '"uid":"') + 7, 8) END END`;
  }

  async addEndpoint(url: string, events: string, secretSealed: string, at: Date): Promise<WebhookEndpoint> {
    // From the newest event on: an endpoint receives what happens after it was added.
    const [row] = await this.query<EndpointRow>(
      `INSERT INTO webhook_endpoints (url, events, secret_sealed, last_event_id, created_at)
       VALUES ($1, $2, $3, (SELECT COALESCE(MAX(id), 0) FROM job_events), $4) RETURNING *`,
      [url, events, secretSealed, at.getTime()],
    );
    return toEndpoint(row!);
  }

  async endpoints(includeRemoved = false): Promise<WebhookEndpoint[]> {
    const rows = await this.query<EndpointRow>(
      `SELECT * FROM webhook_endpoints ${includeRemoved ? '' : 'WHERE removed_at IS NULL'} ORDER BY id ASC`,
      [],
    );
    return rows.map(toEndpoint);
  }

  async endpointForSending(id: number): Promise<{ url: string; secretSealed: string } | null> {
    const [row] = await this.query<EndpointRow>(
      'SELECT url, secret_sealed FROM webhook_endpoints WHERE id = $1 AND removed_at IS NULL',
      [id],
    );
    return row ? { url: row.url, secretSealed: row.secret_sealed } : null;
  }

  async removeEndpoint(id: number, at: Date): Promise<boolean> {
    const rows = await this.query(
      'UPDATE webhook_endpoints SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL RETURNING id',
      [at.getTime(), id],
    );
    if (!rows.length) return false;
    await this.query(
      `UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint removed', lease_until = NULL
       WHERE endpoint_id = $1 AND status = 'pending' RETURNING id`,
      [id],
    );
    return true;
  }

  async queue(endpointId: number, plan: QueuePlan, at: Date): Promise<number | null> {
    const select = 'SELECT events, last_event_id FROM webhook_endpoints WHERE id = $1 AND removed_at IS NULL';
    if (this.sql.dialect === 'postgres')
      return this.sql.transaction(async (tx) => {
        const row = await tx.get<EndpointRow>(`${select} FOR UPDATE SKIP LOCKED`, [endpointId]);
        return row ? this.write(endpointId, row, plan, at, tx) : null;
      });
    const row = await this.sql.get<EndpointRow>(select, [endpointId]);
    return row ? this.write(endpointId, row, plan, at, this.sql) : null;
  }

  private async write(endpointId: number, row: EndpointRow, plan: QueuePlan, at: Date, tx: SqlRunner): Promise<number> {
    const lastEventId = Number(row.last_event_id);
    const decided = await plan({ events: row.events, lastEventId });
    if (!decided || decided.lastEventId <= lastEventId) return 0;
    let queued = 0;
    for (const chunk of statementChunks(decided.deliveries)) {
      const bind: unknown[] = [];
      const values = chunk.map((d) => {
        const n = bind.push(endpointId, d.eventId, d.jobId, d.printerId, d.type, d.payload, at.getTime());
        const p = (k: number) => `$${n - 7 + k}`;
        return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, 'pending', 0, ${p(7)}, ${p(7)})`;
      });
      const inserted = await tx.all(
        `INSERT INTO webhook_deliveries (endpoint_id, event_id, job_id, printer_id, type, payload, status, attempts, next_attempt_at, created_at)
         VALUES ${values.join(', ')} ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id`,
        bind,
      );
      queued += inserted.length;
    }
    await tx.run('UPDATE webhook_endpoints SET last_event_id = $1 WHERE id = $2 AND last_event_id < $1', [
      decided.lastEventId,
      endpointId,
    ]);
    return queued;
  }

  async dueEndpoints(now: number): Promise<number[]> {
    const rows = await this.query<{ endpoint_id: number }>(
      `SELECT DISTINCT endpoint_id FROM webhook_deliveries WHERE ${DUE}
       AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE removed_at IS NULL)`,
      [now],
    );
    return rows.map((r) => Number(r.endpoint_id));
  }

  async claim(endpointId: number, now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    const lock = this.sql.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
    const rows = await this.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET status = 'delivering', lease_until = $2, attempts = attempts + 1
       WHERE id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $3 AND ${DUE}
                    ORDER BY next_attempt_at, id LIMIT $4 ${lock})
       RETURNING *`,
      [now, leaseUntil, endpointId, limit],
    );
    return rows.map(toClaim).sort((a, b) => a.eventId - b.eventId);
  }

  async delivered(claim: ClaimedDelivery, statusCode: number, at: number): Promise<boolean> {
    return this.settle(
      claim,
      `status = 'delivered', delivered_at = $3, last_status_code = $4, last_error = NULL, lease_until = NULL`,
      [at, statusCode],
    );
  }

  async retryLater(claim: ClaimedDelivery, nextAt: number, statusCode: number | null, error: string): Promise<boolean> {
    return this.settle(
      claim,
      `status = 'pending', next_attempt_at = $3, last_status_code = $4, last_error = $5, lease_until = NULL`,
      [nextAt, statusCode, error.slice(0, MAX_ERROR)],
    );
  }

  async failed(claim: ClaimedDelivery, statusCode: number | null, error: string): Promise<boolean> {
    return this.settle(claim, `status = 'failed', last_status_code = $3, last_error = $4, lease_until = NULL`, [
      statusCode,
      error.slice(0, MAX_ERROR),
    ]);
  }

  async release(claim: ClaimedDelivery, now: number): Promise<void> {
    await this.settle(claim, `status = 'pending', next_attempt_at = $3, lease_until = NULL`, [now]);
  }

  async deliveries(filter: DeliveryFilter): Promise<WebhookDelivery[]> {
    const where: string[] = [];
    const bind: unknown[] = [];
    if (filter.status) where.push(`status = $${bind.push(filter.status)}`);
    if (filter.endpointId !== undefined) where.push(`endpoint_id = $${bind.push(filter.endpointId)}`);
    if (filter.beforeId !== undefined) where.push(`id < $${bind.push(filter.beforeId)}`);
    const rows = await this.query<DeliveryRow>(
      `SELECT id, endpoint_id, event_id, job_id, printer_id, type, status, attempts, next_attempt_at, last_status_code,
              last_error, created_at, delivered_at, ${this.uidTagSql} AS uid_tag
       FROM webhook_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${bind.push(filter.limit)}`,
      bind,
    );
    return rows.map(toDelivery);
  }

  async recordAttempt(a: NewAttempt): Promise<void> {
    await this.query(
      `INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempt, started_at, duration_ms, status_code, error, outcome, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
      [
        a.deliveryId,
        a.endpointId,
        a.attempt,
        a.startedAt,
        Math.max(0, Math.round(a.durationMs)),
        a.statusCode,
        a.error === null ? null : withoutUrlCredentials(a.error).slice(0, MAX_ERROR),
        a.outcome,
        a.nextAttemptAt,
      ],
    );
  }

  async attempts(filter: AttemptFilter): Promise<WebhookAttempt[]> {
    const where: string[] = [];
    const bind: unknown[] = [];
    if (filter.deliveryId !== undefined) where.push(`delivery_id = $${bind.push(filter.deliveryId)}`);
    if (filter.endpointId !== undefined) where.push(`endpoint_id = $${bind.push(filter.endpointId)}`);
    const rows = await this.query<AttemptRow>(
      `SELECT * FROM webhook_attempts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT $${bind.push(filter.limit)}`,
      bind,
    );
    return rows.map(toAttempt);
  }

  async retryNow(deliveryId: number, now: number): Promise<RetryRefusal | null> {
    const [row] = await this.query<{ status: DeliveryStatus; has_payload: number | boolean; removed_at: unknown }>(
      `SELECT d.status, CASE WHEN d.payload <> '' THEN 1 ELSE 0 END AS has_payload, e.removed_at
       FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`,
      [deliveryId],
    );
    if (!row) return 'missing';
    if (row.removed_at !== null) return 'endpoint-removed';
    if (row.status === 'delivered' || row.status === 'delivering') return row.status;
    if (!Number(row.has_payload)) return 'payload-dropped';
    const updated = await this.query(
      `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2, lease_until = NULL
       WHERE id = $1 AND status IN ('pending', 'failed') AND payload <> '' RETURNING id`,
      [deliveryId, now],
    );
    // Claimed meanwhile (by this instance or another): it is being tried now anyway.
    return updated.length ? null : 'delivering';
  }

  async nextDueAt(): Promise<number | null> {
    const [row] = await this.query<{ next: number | string | null }>(
      `SELECT MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE lease_until END) AS next
       FROM webhook_deliveries WHERE status IN ('pending', 'delivering')
       AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE removed_at IS NULL)`,
      [],
    );
    return row?.next === null || row?.next === undefined ? null : Number(row.next);
  }

  async pruneDeliveries(before: number): Promise<number> {
    const which = `created_at < $1 AND (status IN ('delivered', 'failed')
         OR endpoint_id IN (SELECT id FROM webhook_endpoints WHERE removed_at IS NOT NULL))`;
    // Attempts first: a crash in between leaves deliveries without their log, never a log without its delivery.
    await this.query(
      `DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE ${which}) RETURNING id`,
      [before],
    );
    const rows = await this.query(`DELETE FROM webhook_deliveries WHERE ${which} RETURNING id`, [before]);
    return rows.length;
  }

  async dropPayloads(before: number): Promise<number> {
    const which = `created_at < $1 AND status IN ('delivered', 'failed')`;
    await this.query(
      `DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE ${which}) RETURNING id`,
      [before],
    );
    const rows = await this.query(
      `UPDATE webhook_deliveries SET payload = '' WHERE ${which} AND payload <> '' RETURNING id`,
      [before],
    );
    return rows.length;
  }

  /** Writes a claim's outcome if the row is still that claim's ($1 id, $2 attempts). */
  private async settle(claim: ClaimedDelivery, set: string, values: unknown[]): Promise<boolean> {
    const rows = await this.query(
      `UPDATE webhook_deliveries SET ${set} WHERE id = $1 AND attempts = $2 AND status = 'delivering' RETURNING id`,
      [claim.id, claim.attempts, ...values],
    );
    return rows.length === 1;
  }

  /** Rows back from any statement (SqlClient reads the rows of an `… RETURNING` too). */
  private query<T extends object>(sql: string, bind: unknown[]): Promise<T[]> {
    return this.sql.all<T>(sql, bind);
  }
}
