/**
 * Which instance re-publishes a printer's unfinished jobs. With several instances on one PostgreSQL
 * database: an advisory lock per printer, held on this instance's own connection for as long as the
 * instance lives. PostgreSQL frees it when that connection ends, a crash (SIGKILL) included, and another
 * instance then takes the printer over (postgres-printer-claims.ts). On SQLite there is one instance,
 * which owns every printer.
 */
export interface PrinterClaims {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True when this instance re-publishes `printerId`'s jobs: it already holds the printer's claim, or just took it. */
  claim(printerId: string): Promise<boolean>;
}

export class SoleInstanceClaims implements PrinterClaims {
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async claim(): Promise<boolean> {
    return true;
  }
}
