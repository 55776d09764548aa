/**
 * The door to `idempotency_keys`. A key is claimed by inserting its row: the primary key (scope, key)
 * lets one insert win, in one process or across instances on one PostgreSQL, whatever the timing. The
 * winner creates the job and completes the row; the others read it. The rules are in
 * broker-server/api/idempotency.ts.
 */
import type { SqlClient } from '../db/sql-client';

export interface IdempotencyRecord {
  scope: string;
  key: string;
  requestHash: string;
  /** Null while the request that claimed the key is creating its job. */
  jobId: number | null;
  statusCode: number | null;
  createdAt: number;
}

export interface IdempotencyStore {
  /** True when this call inserted the row (it owns the key); false when a row was there. */
  claim(scope: string, key: string, requestHash: string, at: Date): Promise<boolean>;
  get(scope: string, key: string): Promise<IdempotencyRecord | null>;
  complete(scope: string, key: string, jobId: number, statusCode: number): Promise<void>;
  /** Forgets a claim whose request failed (a 4xx: nothing was created), so that the key can be used again. */
  release(scope: string, key: string): Promise<void>;
  /** Removes an unfinished claim made before `before` (its owner died): true when it did. */
  releaseAbandoned(scope: string, key: string, before: Date): Promise<boolean>;
  /** Deletes keys created before `before`; returns how many. */
  prune(before: Date): Promise<number>;
}

interface Row {
  scope: string;
  key: string;
  request_hash: string;
  job_id: number | null;
  status_code: number | null;
  created_at: number | string;
}

export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(private readonly sql: SqlClient) {}

  async claim(scope: string, key: string, requestHash: string, at: Date): Promise<boolean> {
    const claimed = await this.sql.run(
      'INSERT INTO idempotency_keys (scope, "key", request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [scope, key, requestHash, at.getTime()],
    );
    return claimed === 1;
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | null> {
    const row = await this.sql.get<Row>('SELECT * FROM idempotency_keys WHERE scope = $1 AND "key" = $2', [scope, key]);
    if (!row) return null;
    return {
      scope: row.scope,
      key: row.key,
      requestHash: row.request_hash,
      jobId: row.job_id,
      statusCode: row.status_code,
      createdAt: Number(row.created_at),
    };
  }

  async complete(scope: string, key: string, jobId: number, statusCode: number): Promise<void> {
    await this.sql.run('UPDATE idempotency_keys SET job_id = $1, status_code = $2 WHERE scope = $3 AND "key" = $4', [
      jobId,
      statusCode,
      scope,
      key,
    ]);
  }

  async release(scope: string, key: string): Promise<void> {
    await this.sql.run('DELETE FROM idempotency_keys WHERE scope = $1 AND "key" = $2 AND job_id IS NULL', [scope, key]);
  }

  async releaseAbandoned(scope: string, key: string, before: Date): Promise<boolean> {
    const released = await this.sql.run(
      'DELETE FROM idempotency_keys WHERE scope = $1 AND "key" = $2 AND job_id IS NULL AND created_at < $3',
      [scope, key, before.getTime()],
    );
    return released === 1;
  }

  async prune(before: Date): Promise<number> {
    return this.sql.run('DELETE FROM idempotency_keys WHERE created_at < $1', [before.getTime()]);
  }
}
