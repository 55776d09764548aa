/**
 * The printer registry's table, `printer_accounts`: which printers exist and the SHA-256 of each one's MQTT
 * token. Every query on it is here, in SQL both SQLite and PostgreSQL accept. A removed printer keeps a row
 * without a token (a tombstone), so that the PRINTERS setting, which seeds the table, does not bring it back.
 */
import type { SqlClient } from '../db/sql-client';
import { isoFromSql } from '../db/sql-client';

export interface PrinterAccountRecord {
  printerId: string;
  /** Hex SHA-256 of the token; null once removed. */
  tokenHash: string | null;
  createdAt: string;
  updatedAt: string;
  removedAt: string | null;
}

export interface PrinterAccountStore {
  /** Every row, tombstones included, by id. */
  all(): Promise<PrinterAccountRecord[]>;
  get(printerId: string): Promise<PrinterAccountRecord | null>;
  /** Inserts when no row (not even a tombstone) exists; true when inserted. For the seed from PRINTERS. */
  seed(printerId: string, tokenHash: string): Promise<boolean>;
  /** A new printer, or a removed one back; false when a printer of that id exists. */
  add(printerId: string, tokenHash: string): Promise<boolean>;
  /** A new token for an existing printer; false when there is none. */
  rotate(printerId: string, tokenHash: string): Promise<boolean>;
  /** Removes an existing printer (keeps the tombstone); false when there is none. */
  remove(printerId: string): Promise<boolean>;
}

interface Row {
  printer_id: string;
  token_hash: string | null;
  created_at: string | Date;
  updated_at: string | Date;
  removed_at: string | Date | null;
}

export class SqlPrinterAccountStore implements PrinterAccountStore {
  constructor(private readonly sql: SqlClient) {}

  private now(): string | Date {
    return this.sql.date(new Date());
  }

  async all(): Promise<PrinterAccountRecord[]> {
    return (await this.sql.all<Row>('SELECT * FROM printer_accounts ORDER BY printer_id ASC')).map(toRecord);
  }

  async get(printerId: string): Promise<PrinterAccountRecord | null> {
    const row = await this.sql.get<Row>('SELECT * FROM printer_accounts WHERE printer_id = $1', [printerId]);
    return row ? toRecord(row) : null;
  }

  async seed(printerId: string, tokenHash: string): Promise<boolean> {
    const now = this.now();
    const changed = await this.sql.run(
      `INSERT INTO printer_accounts (printer_id, token_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) ON CONFLICT (printer_id) DO NOTHING`,
      [printerId, tokenHash, now],
    );
    return changed === 1;
  }

  async add(printerId: string, tokenHash: string): Promise<boolean> {
    const now = this.now();
    // One statement: two admins adding the same id at once cannot both succeed.
    const changed = await this.sql.run(
      `INSERT INTO printer_accounts (printer_id, token_hash, created_at, updated_at) VALUES ($1, $2, $3, $3)
       ON CONFLICT (printer_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at, updated_at = excluded.updated_at, removed_at = NULL
       WHERE printer_accounts.token_hash IS NULL`,
      [printerId, tokenHash, now],
    );
    return changed === 1;
  }

  async rotate(printerId: string, tokenHash: string): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE printer_accounts SET token_hash = $2, updated_at = $3 WHERE printer_id = $1 AND token_hash IS NOT NULL',
      [printerId, tokenHash, this.now()],
    );
    return changed === 1;
  }

  async remove(printerId: string): Promise<boolean> {
    const now = this.now();
    const changed = await this.sql.run(
      'UPDATE printer_accounts SET token_hash = NULL, updated_at = $2, removed_at = $2 WHERE printer_id = $1 AND token_hash IS NOT NULL',
      [printerId, now],
    );
    return changed === 1;
  }
}

function toRecord(row: Row): PrinterAccountRecord {
  return {
    printerId: row.printer_id,
    tokenHash: row.token_hash,
    createdAt: isoFromSql(row.created_at),
    updatedAt: isoFromSql(row.updated_at),
    removedAt: row.removed_at === null ? null : isoFromSql(row.removed_at),
  };
}
