/**
 * The door to `pairings` (migration 0010): one SQL module for SQLite and PostgreSQL. Each state change is
 * one conditional statement, so that a code is approved once and a token claimed once, whichever instance
 * or admin gets there first. Times are epoch milliseconds.
 */
import type { SqlClient } from '../db/sql-client';

export type PairingStatus = 'pending' | 'approved' | 'delivered' | 'expired';

export interface PairingRecord {
  id: string;
  code: string;
  /** Hex SHA-256 of the agent's pairing secret. */
  secretHash: string;
  machine: string;
  platform: string;
  printer: string;
  agentVersion: string;
  /** The client address that asked. */
  address: string;
  status: PairingStatus;
  printerId: string | null;
  createdAt: number;
  expiresAt: number;
  approvedAt: number | null;
  deliveredAt: number | null;
}

export type NewPairing = Omit<PairingRecord, 'status' | 'printerId' | 'approvedAt' | 'deliveredAt'>;

export interface PairingStore {
  /** Marks pending pairings past their time `expired`, and forgets rows that ended before `forgetBefore`. */
  expire(now: number, forgetBefore: number): Promise<void>;
  /** False when a pending pairing holds that code already (nothing is stored). */
  insert(pairing: NewPairing): Promise<boolean>;
  get(id: string): Promise<PairingRecord | null>;
  /** The most recent pairing that had this code, whatever its state. */
  latestByCode(code: string): Promise<PairingRecord | null>;
  /** Pending and not past `now`, oldest first. */
  pending(now: number): Promise<PairingRecord[]>;
  /** pending (and not past `now`) → approved for `printerId`; null when no such pairing. */
  approve(code: string, printerId: string, now: number): Promise<PairingRecord | null>;
  /** approved → pending again (the registry refused the printer id); false when it was not approved. */
  unapprove(id: string): Promise<boolean>;
  /** approved → delivered; null when it was not approved (claimed already, or never approved). */
  deliver(id: string, now: number): Promise<PairingRecord | null>;
}

interface Row {
  id: string;
  code: string;
  secret_hash: string;
  machine: string;
  platform: string;
  printer: string;
  agent_version: string;
  address: string;
  status: PairingStatus;
  printer_id: string | null;
  created_at: number | string;
  expires_at: number | string;
  approved_at: number | string | null;
  delivered_at: number | string | null;
}

const ms = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toRecord(row: Row): PairingRecord {
  return {
    id: row.id,
    code: row.code,
    secretHash: row.secret_hash,
    machine: row.machine,
    platform: row.platform,
    printer: row.printer,
    agentVersion: row.agent_version,
    address: row.address,
    status: row.status,
    printerId: row.printer_id,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    approvedAt: ms(row.approved_at),
    deliveredAt: ms(row.delivered_at),
  };
}

export class SqlPairingStore implements PairingStore {
  constructor(private readonly sql: SqlClient) {}

  async expire(now: number, forgetBefore: number): Promise<void> {
    await this.sql.run("UPDATE pairings SET status = 'expired' WHERE status = 'pending' AND expires_at <= $1", [now]);
    await this.sql.run('DELETE FROM pairings WHERE expires_at < $1', [forgetBefore]);
  }

  async insert(p: NewPairing): Promise<boolean> {
    const inserted = await this.sql.run(
      `INSERT INTO pairings (id, code, secret_hash, machine, platform, printer, agent_version, address, status, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)
       ON CONFLICT DO NOTHING`,
      [
        p.id,
        p.code,
        p.secretHash,
        p.machine,
        p.platform,
        p.printer,
        p.agentVersion,
        p.address,
        p.createdAt,
        p.expiresAt,
      ],
    );
    return inserted === 1;
  }

  async get(id: string): Promise<PairingRecord | null> {
    const row = await this.sql.get<Row>('SELECT * FROM pairings WHERE id = $1', [id]);
    return row ? toRecord(row) : null;
  }

  async latestByCode(code: string): Promise<PairingRecord | null> {
    const row = await this.sql.get<Row>('SELECT * FROM pairings WHERE code = $1 ORDER BY created_at DESC LIMIT 1', [
      code,
    ]);
    return row ? toRecord(row) : null;
  }

  async pending(now: number): Promise<PairingRecord[]> {
    return (
      await this.sql.all<Row>(
        "SELECT * FROM pairings WHERE status = 'pending' AND expires_at > $1 ORDER BY created_at ASC",
        [now],
      )
    ).map(toRecord);
  }

  async approve(code: string, printerId: string, now: number): Promise<PairingRecord | null> {
    const row = await this.sql.get<Row>(
      "UPDATE pairings SET status = 'approved', printer_id = $2, approved_at = $3 WHERE code = $1 AND status = 'pending' AND expires_at > $3 RETURNING *",
      [code, printerId, now],
    );
    return row ? toRecord(row) : null;
  }

  async unapprove(id: string): Promise<boolean> {
    const changed = await this.sql.run(
      "UPDATE pairings SET status = 'pending', printer_id = NULL, approved_at = NULL WHERE id = $1 AND status = 'approved'",
      [id],
    );
    return changed === 1;
  }

  async deliver(id: string, now: number): Promise<PairingRecord | null> {
    const row = await this.sql.get<Row>(
      "UPDATE pairings SET status = 'delivered', delivered_at = $2 WHERE id = $1 AND status = 'approved' RETURNING *",
      [id, now],
    );
    return row ? toRecord(row) : null;
  }
}
