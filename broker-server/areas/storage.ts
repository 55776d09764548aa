/**
 * The storage area: the data folder, the database and its job store, the server's own disk health, and
 * on PostgreSQL what instances sharing it tell each other (the event log's wake-ups, printer claims).
 */
import { ensurePrivateDir } from '../../runtime/file-modes';
import { part, type Part } from '../../runtime/lifecycle';
import { PostgresEventLogNotices } from '../cluster/event-log-notices';
import { PostgresPrinterClaims } from '../cluster/postgres-printer-claims';
import { type PrinterClaims, SoleInstanceClaims } from '../cluster/printer-claims';
import { Database } from '../store/database';
import type { PrintStore } from '../store/print-store';
import { StorageHealth } from '../store/storage-health';
import type { ServerContext } from './context';

export interface StorageArea {
  db: Database;
  store: PrintStore;
  /** A full DATA_DIR: 503 and /readyz failing until a write (or, on SQLite, a probe) goes through again. */
  health: StorageHealth;
  /** Other instances' additions to the event log (PostgreSQL only). */
  notices?: PostgresEventLogNotices;
  claims: PrinterClaims;
  parts: { database: Part; claims: Part; health: Part };
}

export function buildStorage({ config, log, instanceId }: ServerContext): StorageArea {
  // Data folder 0700 (its files are 0600 each): a folder left open to others is closed, with a warning.
  if (ensurePrivateDir(config.dataDir))
    log.warn(
      { module: 'server', dir: config.dataDir },
      'the data folder was open to other users; its mode is now 0700',
    );
  const db = new Database({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, log.child({ module: 'db' }));
  const health = new StorageHealth(log, { dataDir: config.databaseUrl ? null : config.dataDir });
  // On PostgreSQL, other instances may share the database: hear what they add to the event log, and share out the printers.
  const cluster = config.databaseUrl
    ? {
        notices: new PostgresEventLogNotices(config.databaseUrl, instanceId, log),
        claims: new PostgresPrinterClaims(config.databaseUrl, instanceId, log),
      }
    : { claims: new SoleInstanceClaims() };
  return {
    db,
    store: db.createPrintStore(),
    health,
    ...cluster,
    parts: {
      database: db,
      claims: part(
        'printer claims',
        () => cluster.claims.start(),
        () => cluster.claims.stop(),
      ),
      health: part(
        'storage health',
        () => undefined,
        () => health.stop(),
      ),
    },
  };
}
