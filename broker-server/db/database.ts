/** The SQLite file, opened through Sequelize, in WAL mode, migrated to the latest schema. */
import fs from 'node:fs';
import path from 'node:path';
import { Sequelize, type QueryInterface } from 'sequelize';
import sqlite3 from 'sqlite3';
import { SequelizeStorage, Umzug } from 'umzug';
import type { Logger } from '../../config/logger';
import { migrations } from './migrations';
import { definePrinterModel, definePrintJobModel, type Models } from './models';

export const DATABASE_FILE = 'printhop.sqlite';

export class Database {
  readonly sequelize: Sequelize;
  readonly models: Models;
  readonly file: string;

  constructor(dataDir: string, private readonly log: Logger) {
    this.file = path.join(dataDir, DATABASE_FILE);
    this.sequelize = new Sequelize({
      dialect: 'sqlite',
      dialectModule: sqlite3,
      storage: this.file,
      logging: (sql: string) => log.trace({ sql }, 'sql'),
      define: { underscored: true, timestamps: true },
    });
    this.models = { PrintJob: definePrintJobModel(this.sequelize), Printer: definePrinterModel(this.sequelize) };
  }

  async start(): Promise<void> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    await this.sequelize.authenticate();
    // WAL lives in the file itself, so setting it once is enough for every later connection.
    const [rows] = await this.sequelize.query('PRAGMA journal_mode=WAL');
    const mode = (rows as Array<{ journal_mode?: string }>)[0]?.journal_mode;
    if (mode !== 'wal') throw new Error(`SQLite refused WAL mode (answered ${String(mode)}) for ${this.file}`);
    const umzug = new Umzug<QueryInterface>({
      migrations,
      context: this.sequelize.getQueryInterface(),
      storage: new SequelizeStorage({ sequelize: this.sequelize, tableName: 'schema_migrations' }),
      logger: undefined,
    });
    const applied = await umzug.up();
    if (applied.length) this.log.info({ migrations: applied.map((m) => m.name), file: this.file }, 'database migrated');
    this.log.info({ file: this.file }, 'database ready');
  }

  async stop(): Promise<void> {
    await this.sequelize.close();
  }
}
