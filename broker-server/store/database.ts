/**
 * The job store's database through Sequelize: the SQLite file in DATA_DIR (WAL mode) by default, or
 * PostgreSQL when DATABASE_URL is set. Either way it is migrated to the latest schema at start-up.
 */
import path from 'node:path';
import pg from 'pg';
import { Sequelize, type QueryInterface } from 'sequelize';
import sqlite3 from 'sqlite3';
import { SequelizeStorage, Umzug } from 'umzug';
import { type Logger, urlForLog } from '../../runtime/logger';
import { ensurePrivateDir, ensurePrivateFile, tightenExisting } from '../../runtime/file-modes';
import { migrations } from '../db/migrations';
import { type Dialect, PostgresClient, type SqlClient, SqliteClient } from '../db/sql-client';
import { type ApiKeyStore, SqlApiKeyStore } from './api-key-store';
import { type IdempotencyStore, SqlIdempotencyStore } from './idempotency-store';
import type { PrintStore } from './print-store';
import { type PairingStore, SqlPairingStore } from './pairing-store';
import { SqlWebhookStore } from './webhook-store';
import { PostgresPrintStore } from './postgres-print-store';
import { SqlitePrintStore } from './sqlite-print-store';
import { type PrinterAccountStore, SqlPrinterAccountStore } from './printer-account-store';

export const DATABASE_FILE = 'printhop.sqlite';

/** Any fixed number: instances starting together take turns at migrating. */
const MIGRATION_LOCK_KEY = 0x7072_6e74;

export type { Dialect } from '../db/sql-client';

export interface DatabaseOptions {
  dataDir: string;
  /** PostgreSQL; null or absent: SQLite in dataDir. */
  databaseUrl?: string | null;
}

export class Database {
  readonly name = 'database';
  /** The connection settings and the migrations; statements go through `sql`. */
  readonly sequelize: Sequelize;
  /** Every store's statements, on Sequelize's connection (SQLite) or pool (PostgreSQL). */
  readonly sql: SqlClient;
  /**
   * Reads that must see committed changes only (the event log): on SQLite a read-only connection of its
   * own, since `sql`'s connection may be inside a batch's open transaction; on PostgreSQL `sql` itself.
   */
  readonly committed: SqlClient;
  readonly dialect: Dialect;
  /** `sql` on PostgreSQL (its pool also gives the migration lock's session), else null. */
  private readonly postgres: PostgresClient | null = null;
  /** The SQLite file, or null on PostgreSQL. */
  readonly file: string | null;
  /** The stores made here, closed with the database. */
  private readonly stores: PrintStore[] = [];
  /** Where the data is, for logs: never the password. */
  readonly location: string;
  private stopped = false;
  /** Every migration has run (readiness). */
  migrated = false;

  constructor(
    options: DatabaseOptions | string,
    private readonly log: Logger,
  ) {
    const { dataDir, databaseUrl } = typeof options === 'string' ? { dataDir: options, databaseUrl: null } : options;
    const logging = (sql: string) => log.trace({ sql }, 'sql');
    const define = { underscored: true, timestamps: true };
    if (databaseUrl) {
      this.dialect = 'postgres';
      this.file = null;
      this.location = urlForLog(databaseUrl);
      this.sequelize = new Sequelize(databaseUrl, {
        dialect: 'postgres',
        dialectModule: pg,
        logging,
        define,
        pool: { max: 10 },
      });
      this.postgres = new PostgresClient(this.sequelize.connectionManager);
      this.sql = this.postgres;
      this.committed = this.postgres;
    } else {
      this.dialect = 'sqlite';
      this.file = path.join(dataDir, DATABASE_FILE);
      this.location = this.file;
      this.sequelize = new Sequelize({
        dialect: 'sqlite',
        dialectModule: sqlite3,
        storage: this.file,
        logging,
        define,
      });
      // Sequelize's one connection to the file (it opens it on first use, with its settings).
      const manager = this.sequelize.connectionManager;
      this.sql = new SqliteClient(async () => (await manager.getConnection({ type: 'write' })) as sqlite3.Database);
      this.committed = SqliteClient.readOnly(this.file);
    }
  }

  async start(): Promise<void> {
    if (this.file) {
      // SQLite creates -wal and -shm with the database file's mode: a 0600 file before it opens keeps all three private.
      ensurePrivateDir(path.dirname(this.file));
      const loose = [
        ensurePrivateFile(this.file) ? this.file : null,
        ...tightenExisting([`${this.file}-wal`, `${this.file}-shm`]),
      ].filter(Boolean);
      if (loose.length)
        this.log.warn({ files: loose }, 'database files were readable by other users; their mode is now 0600');
    }
    await this.sequelize.authenticate();
    if (this.dialect === 'sqlite') {
      // WAL lives in the file itself, so setting it once is enough for every later connection.
      const mode = (await this.sql.get<{ journal_mode?: string }>('PRAGMA journal_mode=WAL'))?.journal_mode;
      if (mode !== 'wal') throw new Error(`SQLite refused WAL mode (answered ${String(mode)}) for ${this.location}`);
      // Temporary storage in memory, on this one writing connection: the statement journal of a batch's multi-row
      // UPDATE (its trigger writes the event log, so it must be undoable alone) spilled past 64 KiB into a file
      // SQLite created, wrote and deleted in the temp directory, about once every 12 jobs under load, seven
      // pwrite64 a job (docs/performance.md, "loadcpu"). Bounded by a batch's pages; not the durable files.
      await this.sql.run('PRAGMA temp_store=MEMORY');
      const store = (await this.sql.get<{ temp_store?: number }>('PRAGMA temp_store'))?.temp_store;
      if (store !== 2)
        throw new Error(`SQLite kept temporary storage on disk (temp_store ${String(store)}) for ${this.location}`);
      await this.migrate();
    } else {
      await this.withSessionLock(MIGRATION_LOCK_KEY, () => this.migrate());
    }
    this.log.info({ database: this.location, dialect: this.dialect }, 'database ready');
  }

  /** The job store of this dialect. */
  createPrintStore(): PrintStore {
    const store =
      this.dialect === 'postgres'
        ? new PostgresPrintStore(this.sql, this.committed)
        : new SqlitePrintStore(this.sql as SqliteClient, this.committed);
    this.stores.push(store);
    return store;
  }

  createApiKeyStore(): ApiKeyStore {
    return new SqlApiKeyStore(this.sql);
  }

  createIdempotencyStore(): IdempotencyStore {
    return new SqlIdempotencyStore(this.sql);
  }

  createPairingStore(): PairingStore {
    return new SqlPairingStore(this.sql);
  }

  createWebhookStore(): SqlWebhookStore {
    return new SqlWebhookStore(this.sql);
  }

  /** Null when the database answers a query, else why not (readiness). */
  async ping(timeoutMs = 2000): Promise<string | null> {
    if (this.stopped) return 'stopped';
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.sql.get('SELECT 1 AS one'),
        new Promise(
          (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)),
        ),
      ]);
      return null;
    } catch (err) {
      return (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The printer registry's table on this database. */
  createPrinterAccountStore(): PrinterAccountStore {
    return new SqlPrinterAccountStore(this.sql);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const store of this.stores) await store.close?.();
    // Prepared statements first: SQLite does not close a connection that still has some.
    await this.committed.close();
    await this.sql.close();
    await this.sequelize.close();
  }

  private async migrate(): Promise<void> {
    const umzug = new Umzug<QueryInterface>({
      migrations,
      context: this.sequelize.getQueryInterface(),
      storage: new SequelizeStorage({ sequelize: this.sequelize, tableName: 'schema_migrations' }),
      logger: undefined,
    });
    const applied = await umzug.up();
    this.migrated = true;
    if (applied.length)
      this.log.info({ migrations: applied.map((m) => m.name), database: this.location }, 'database migrated');
  }

  /** Runs `fn` while this connection holds a PostgreSQL advisory lock (released even if `fn` fails). */
  private async withSessionLock<T>(key: number, fn: () => Promise<T>): Promise<T> {
    return this.postgres!.withConnection(async (connection) => {
      await connection.query('SELECT pg_advisory_lock($1)', [key]);
      try {
        return await fn();
      } finally {
        await connection.query('SELECT pg_advisory_unlock($1)', [key]);
      }
    });
  }
}
