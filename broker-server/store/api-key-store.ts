/**
 * The door to `api_keys`: one SQL module for SQLite and PostgreSQL (the statements are the same). Only
 * the SHA-256 of a key is stored; see broker-server/api/api-keys.ts for why that is enough.
 */
import type { SqlClient } from '../db/sql-client';

export interface ApiKeyRecord {
  name: string;
  keyHash: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface ApiKeyStore {
  /** False when the name is taken (a revoked key's name stays taken, so that job records stay clear). */
  add(name: string, keyHash: string, at: Date): Promise<boolean>;
  byHash(keyHash: string): Promise<ApiKeyRecord | null>;
  list(): Promise<ApiKeyRecord[]>;
  /** False when no active key has that name. */
  revoke(name: string, at: Date): Promise<boolean>;
}

interface Row {
  name: string;
  key_hash: string;
  created_at: number | string;
  revoked_at: number | string | null;
}

const toRecord = (row: Row): ApiKeyRecord => ({
  name: row.name,
  keyHash: row.key_hash,
  createdAt: new Date(Number(row.created_at)).toISOString(),
  revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)).toISOString(),
});

export class SqlApiKeyStore implements ApiKeyStore {
  constructor(private readonly sql: SqlClient) {}

  async add(name: string, keyHash: string, at: Date): Promise<boolean> {
    const added = await this.sql.run(
      'INSERT INTO api_keys (name, key_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [name, keyHash, at.getTime()],
    );
    return added === 1;
  }

  async byHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const [row] = await this.sql.all<Row>(
      'SELECT name, key_hash, created_at, revoked_at FROM api_keys WHERE key_hash = $1',
      [keyHash],
    );
    return row ? toRecord(row) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (
      await this.sql.all<Row>('SELECT name, key_hash, created_at, revoked_at FROM api_keys ORDER BY name ASC', [])
    ).map(toRecord);
  }

  async revoke(name: string, at: Date): Promise<boolean> {
    const revoked = await this.sql.run('UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [
      at.getTime(),
      name,
    ]);
    return revoked === 1;
  }
}
