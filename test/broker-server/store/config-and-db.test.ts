import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { migrations } from '../../../broker-server/db/migrations';
import { test } from 'node:test';
import type { QueryInterface } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';
import { ConfigError, loadAgentConfig, loadServerConfig } from '../../../config';
import { Database } from '../../../broker-server/store/database';
import { tempDir, testLogger } from '../../support/harness';

/** A job written as a program of an older version could have written it: only the columns without a default. */
const insertBare = (db: Database, content: string) =>
  db.sql.run('INSERT INTO print_jobs (uid, printer_id, content, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)', [
    randomUUID(),
    'printer-1',
    content,
    db.sql.date(new Date()),
  ]);
const jobsOf = (db: Database) =>
  db.sql.all<{ content: string; kind: string; status: string }>('SELECT content, kind, status FROM print_jobs');
import { createTestDatabase, postgresMissing } from '../../support/services';

/** Every migration, in order (each branch adds its own at the end). */
const ALL_MIGRATIONS = migrations.map((m) => m.name);

/** The migrations this database ran, each once and in order: all of them. */
async function assertMigratedOnce(db: Database): Promise<void> {
  const [ran] = (await db.sequelize.query('SELECT name FROM schema_migrations ORDER BY name')) as [
    Array<{ name: string }>,
    unknown,
  ];
  assert.deepEqual(
    ran.map((m) => m.name),
    ALL_MIGRATIONS,
  );
}

/** print_jobs has the columns every version of the program reads. */
async function assertJobColumns(db: Database): Promise<void> {
  const columns = (await db.sequelize.getQueryInterface().describeTable('print_jobs')) as Record<string, unknown>;
  for (const c of [
    'id',
    'content',
    'status',
    'created_at',
    'printer_id',
    'updated_at',
    'printed_at',
    'error',
    'reprint_of',
  ])
    assert.ok(c in columns, c);
}

test('defaults load, environment variables override them, and every invalid setting is named at once', () => {
  const server = loadServerConfig({});
  assert.equal(server.port, 3000);
  assert.equal(server.mqttPort, 1883);
  assert.equal(server.defaultPrinterId, 'printer-1');
  const agent = loadAgentConfig({ PAPER_COLUMNS: '58mm', CODEPAGE: 'wpc1252', PRINTER: 'tcp://10.0.0.5:9100' });
  assert.equal(agent.columns, 32);
  assert.equal(agent.codePage, 'WPC1252');
  assert.equal(agent.printer, 'tcp://10.0.0.5:9100');
  assert.throws(
    () => loadServerConfig({ PORT: 'eighty', MQTT_PORT: '70000', DEFAULT_PRINTER_ID: 'a/b' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /PORT="eighty"/.test(err.message) &&
      /MQTT_PORT="70000"/.test(err.message) &&
      /DEFAULT_PRINTER_ID="a\/b"/.test(err.message),
  );
  assert.throws(() => loadAgentConfig({ CODEPAGE: 'UTF8' }), /CODEPAGE="UTF8"/);
  assert.throws(() => loadAgentConfig({ PRINTER: 'lpt1' }), /PRINTER="lpt1": must be usb/);
  const cups = loadAgentConfig({
    PRINTER: 'cups:Bureau_2',
    CUPS_SERVER: 'print.local:631',
    PRINTER_STATUS_INTERVAL_MS: '0',
  });
  assert.equal(cups.printer, 'cups:Bureau_2');
  assert.equal(cups.cupsServer, 'print.local:631');
  assert.equal(cups.printerStatusIntervalMs, 0);
  assert.equal(loadAgentConfig({}).printerStatusIntervalMs, 30_000);
  assert.throws(() => loadAgentConfig({ PRINTER: 'cups:a b' }), /PRINTER="cups:a b"/);
  assert.throws(() => loadAgentConfig({ PRINTER_STATUS_INTERVAL_MS: '-5' }), /PRINTER_STATUS_INTERVAL_MS/);
  assert.throws(() => loadAgentConfig({ MQTT_URL: 'localhost' }), /MQTT_URL/);
  assert.throws(() => loadAgentConfig({ PAPER_COLUMNS: '5' }), /PAPER_COLUMNS/);
});

test('the database is SQLite in WAL mode with temporary storage in memory, migrated once, and keeps its rows across restarts', async (t) => {
  const dir = tempDir(t);
  const first = new Database(dir, testLogger());
  await first.start();
  const [[mode]] = (await first.sequelize.query('PRAGMA journal_mode')) as [Array<{ journal_mode: string }>, unknown];
  assert.equal(mode?.journal_mode, 'wal');
  // Statement journals and temporary tables stay in memory (no file created and deleted per batch).
  const [[temp]] = (await first.sequelize.query('PRAGMA temp_store')) as [Array<{ temp_store: number }>, unknown];
  assert.equal(temp?.temp_store, 2);
  await assertJobColumns(first);
  await insertBare(first, 'kept');
  await first.stop();

  const second = new Database(dir, testLogger());
  await second.start();
  await assertMigratedOnce(second);
  assert.equal((await jobsOf(second)).map((r) => r.content).join(), 'kept');
  assert.equal((await jobsOf(second))[0]?.kind, 'message', 'a job is a message unless it says otherwise');
  await second.stop();
});

test('DATABASE_URL selects PostgreSQL, is checked, and is never repeated in an error', () => {
  assert.equal(loadServerConfig({}).databaseUrl, null);
  assert.equal(
    loadServerConfig({ DATABASE_URL: 'postgres://u:p@db:5432/printhop' }).databaseUrl,
    'postgres://u:p@db:5432/printhop',
  );
  assert.throws(
    () => loadServerConfig({ DATABASE_URL: 'mysql://u:hunter2@db/x', PRINTER_TOKENS: 'p1:short' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /DATABASE_URL=\(hidden\): must be empty/.test(err.message) &&
      /the token of p1 must be/.test(err.message) &&
      !/hunter2|short/.test(err.message),
  );
  assert.equal(loadServerConfig({ STALL_AFTER_S: '0' }).stallAfterMs, 0);
  assert.equal(loadServerConfig({ STALL_AFTER_S: '0.5' }).stallAfterMs, 500, 'seconds, fractions allowed');
  assert.throws(() => loadServerConfig({ REPUBLISH_STALE_MS: '3000' }), /renamed STALL_AFTER_S/);
});

test(
  'on PostgreSQL, two instances starting together on an empty database migrate it once, and rows are kept across restarts',
  { skip: postgresMissing() },
  async (t) => {
    const databaseUrl = await createTestDatabase();
    const open = () => new Database({ dataDir: tempDir(t), databaseUrl }, testLogger());
    const [a, b] = [open(), open()];
    await Promise.all([a.start(), b.start()]);
    await assertMigratedOnce(a);
    await assertJobColumns(b);
    await insertBare(a, 'kept');
    await Promise.all([a.stop(), b.stop()]);

    const again = open();
    await again.start();
    t.after(() => again.stop());
    assert.equal((await jobsOf(again)).map((r) => r.content).join(), 'kept');
    await assertMigratedOnce(again);
  },
);

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(
    `[${dialect}] migration 0009-job-uid gives every job from before its own random uid, and the index keeps them unique`,
    { skip: dialect === 'postgres' ? postgresMissing() : false },
    async (t) => {
      const databaseUrl = dialect === 'postgres' ? await createTestDatabase() : null;
      const dataDir = tempDir(t);
      // A database as a server before issue 24 left it: migrated up to 0008, with jobs.
      const before = new Database({ dataDir, databaseUrl }, testLogger());
      const umzug = new Umzug<QueryInterface>({
        migrations: migrations.filter((m) => m.name < '0009'),
        context: before.sequelize.getQueryInterface(),
        storage: new SequelizeStorage({ sequelize: before.sequelize, tableName: 'schema_migrations' }),
        logger: undefined,
      });
      await umzug.up();
      for (let i = 0; i < 50; i++)
        await before.sequelize.query(
          `INSERT INTO print_jobs (printer_id, content, status, kind, created_at, updated_at) VALUES ('p1', 'old ${i}', 'printed', 'message', $1, $1)`,
          { bind: [new Date().toISOString()] },
        );
      await before.sequelize.close();

      const after = new Database({ dataDir, databaseUrl }, testLogger());
      await after.start();
      t.after(() => after.stop());
      const [rows] = (await after.sequelize.query('SELECT uid FROM print_jobs')) as [Array<{ uid: string }>, unknown];
      assert.equal(rows.length, 50);
      for (const { uid } of rows)
        assert.match(uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(new Set(rows.map((r) => r.uid)).size, 50, 'no two alike');
      await assert.rejects(
        after.sequelize.query(`UPDATE print_jobs SET uid = $1`, { bind: [rows[0]!.uid] }),
        (err: Error) => err.name === 'SequelizeUniqueConstraintError',
        'the database itself refuses a uid twice',
      );
    },
  );
}
