/** The printer registry's table in memory, for the fast tests of the registry's rules. */
import type { PrinterAccountRecord, PrinterAccountStore } from '../../broker-server/store/printer-account-store';

export class MemoryPrinterAccountStore implements PrinterAccountStore {
  readonly rows = new Map<string, PrinterAccountRecord>();
  /** Set to make the next write fail, as a lost database would. */
  failNextWrite: Error | null = null;

  async all(): Promise<PrinterAccountRecord[]> {
    return [...this.rows.values()].sort((a, b) => a.printerId.localeCompare(b.printerId)).map((r) => ({ ...r }));
  }

  async get(printerId: string): Promise<PrinterAccountRecord | null> {
    const row = this.rows.get(printerId);
    return row ? { ...row } : null;
  }

  async seed(printerId: string, tokenHash: string): Promise<boolean> {
    this.failIfAsked();
    if (this.rows.has(printerId)) return false;
    const now = new Date().toISOString();
    this.rows.set(printerId, { printerId, tokenHash, createdAt: now, updatedAt: now, removedAt: null });
    return true;
  }

  async add(printerId: string, tokenHash: string): Promise<boolean> {
    this.failIfAsked();
    if (this.rows.get(printerId)?.tokenHash) return false;
    const now = new Date().toISOString();
    this.rows.set(printerId, { printerId, tokenHash, createdAt: now, updatedAt: now, removedAt: null });
    return true;
  }

  async rotate(printerId: string, tokenHash: string): Promise<boolean> {
    this.failIfAsked();
    const row = this.rows.get(printerId);
    if (!row?.tokenHash) return false;
    this.rows.set(printerId, { ...row, tokenHash, updatedAt: new Date().toISOString() });
    return true;
  }

  async remove(printerId: string): Promise<boolean> {
    this.failIfAsked();
    const row = this.rows.get(printerId);
    if (!row?.tokenHash) return false;
    const now = new Date().toISOString();
    this.rows.set(printerId, { ...row, tokenHash: null, updatedAt: now, removedAt: now });
    return true;
  }

  private failIfAsked(): void {
    const err = this.failNextWrite;
    this.failNextWrite = null;
    if (err) throw err;
  }
}
