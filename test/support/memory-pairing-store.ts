/** The pairings table in memory, for the fast tests of the pairing rules; the same conditional steps as the SQL. */
import type { NewPairing, PairingRecord, PairingStore } from '../../broker-server/store/pairing-store';

export class MemoryPairingStore implements PairingStore {
  readonly rows = new Map<string, PairingRecord>();

  async expire(now: number, forgetBefore: number): Promise<void> {
    for (const [id, row] of this.rows) {
      if (row.status === 'pending' && row.expiresAt <= now) row.status = 'expired';
      if (row.expiresAt < forgetBefore) this.rows.delete(id);
    }
  }

  async insert(p: NewPairing): Promise<boolean> {
    if (this.rows.has(p.id)) return false;
    for (const row of this.rows.values()) if (row.status === 'pending' && row.code === p.code) return false;
    this.rows.set(p.id, { ...p, status: 'pending', printerId: null, approvedAt: null, deliveredAt: null });
    return true;
  }

  async get(id: string): Promise<PairingRecord | null> {
    const row = this.rows.get(id);
    return row ? { ...row } : null;
  }

  async latestByCode(code: string): Promise<PairingRecord | null> {
    const rows = [...this.rows.values()].filter((r) => r.code === code).sort((a, b) => b.createdAt - a.createdAt);
    return rows[0] ? { ...rows[0] } : null;
  }

  async pending(now: number): Promise<PairingRecord[]> {
    return [...this.rows.values()]
      .filter((r) => r.status === 'pending' && r.expiresAt > now)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((r) => ({ ...r }));
  }

  async approve(code: string, printerId: string, now: number): Promise<PairingRecord | null> {
    const row = [...this.rows.values()].find((r) => r.code === code && r.status === 'pending' && r.expiresAt > now);
    if (!row) return null;
    Object.assign(row, { status: 'approved', printerId, approvedAt: now });
    return { ...row };
  }

  async unapprove(id: string): Promise<boolean> {
    const row = this.rows.get(id);
    if (row?.status !== 'approved') return false;
    Object.assign(row, { status: 'pending', printerId: null, approvedAt: null });
    return true;
  }

  async deliver(id: string, now: number): Promise<PairingRecord | null> {
    const row = this.rows.get(id);
    if (row?.status !== 'approved') return null;
    Object.assign(row, { status: 'delivered', deliveredAt: now });
    return { ...row };
  }
}
