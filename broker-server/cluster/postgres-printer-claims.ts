/**
 * Printer claims with several instances on one PostgreSQL database (printer-claims.ts says why): an
 * advisory lock per printer on this instance's own connection, freed by PostgreSQL when it ends.
 */
import type { Logger } from '../../runtime/logger';
import type { PrinterClaims } from './printer-claims';
import { PostgresSession } from './postgres-session';

/** First half of the two-key advisory lock: printer claims, apart from any other use of advisory locks. */
const PRINTER_CLAIM_SPACE = 0x7072_6e70;

export class PostgresPrinterClaims implements PrinterClaims {
  private readonly claimed = new Set<string>();
  private readonly session: PostgresSession;
  private readonly log: Logger;

  constructor(databaseUrl: string, instanceId: string, log: Logger) {
    this.log = log.child({ module: 'printer-claims', instance: instanceId });
    this.session = new PostgresSession(databaseUrl, this.log, {
      // Its locks went with the connection: other instances may take the printers now.
      onLost: () => this.claimed.clear(),
      lostMessage: "lost the connection holding this instance's printer claims (claims dropped); reconnecting",
    });
  }

  start(): Promise<void> {
    return this.session.start();
  }

  stop(): Promise<void> {
    return this.session.stop();
  }

  async claim(printerId: string): Promise<boolean> {
    if (this.claimed.has(printerId)) return true;
    const client = this.session.current;
    if (!client) return false;
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
      PRINTER_CLAIM_SPACE,
      printerId,
    ]);
    if (!rows[0]?.ok) return false;
    // The connection may have been replaced while the query ran: a claim counts only on the live one.
    if (client !== this.session.current) return false;
    this.claimed.add(printerId);
    this.log.info({ printerId }, "this instance now re-publishes the printer's jobs");
    return true;
  }
}
