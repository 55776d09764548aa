/**
 * The schema, as an ordered list of migrations run by umzug at start-up. Add a new entry at the end
 * for every change; never edit one that has shipped (people's databases have already run it).
 */
import { DataTypes, type QueryInterface } from 'sequelize';
import type { RunnableMigration } from 'umzug';

/** The advisory lock that orders job events across instances: "printhop" in ASCII, as a bigint. */
export const JOB_EVENTS_LOCK = '8102654602713263984';

export const migrations: RunnableMigration<QueryInterface>[] = [
  {
    name: '0001-create-print-jobs',
    async up({ context: q }) {
      await q.createTable('print_jobs', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        printer_id: { type: DataTypes.STRING(64), allowNull: false },
        content: { type: DataTypes.TEXT, allowNull: false },
        status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
        error: { type: DataTypes.TEXT, allowNull: true },
        created_at: { type: DataTypes.DATE, allowNull: false },
        updated_at: { type: DataTypes.DATE, allowNull: false },
        sent_at: { type: DataTypes.DATE, allowNull: true },
        received_at: { type: DataTypes.DATE, allowNull: true },
        printed_at: { type: DataTypes.DATE, allowNull: true },
        finished_at: { type: DataTypes.DATE, allowNull: true },
      });
      await q.addIndex('print_jobs', ['printer_id', 'status', 'id'], { name: 'print_jobs_printer_status' });
      await q.addIndex('print_jobs', ['status', 'id'], { name: 'print_jobs_status' });
    },
    async down({ context: q }) {
      await q.dropTable('print_jobs');
    },
  },
  {
    name: '0002-create-printers',
    async up({ context: q }) {
      await q.createTable('printers', {
        id: { type: DataTypes.STRING(64), primaryKey: true },
        state: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'offline' },
        detail: { type: DataTypes.TEXT, allowNull: true },
        columns: { type: DataTypes.INTEGER, allowNull: true },
        codepage: { type: DataTypes.STRING(32), allowNull: true },
        first_seen_at: { type: DataTypes.DATE, allowNull: true },
        last_seen_at: { type: DataTypes.DATE, allowNull: true },
        updated_at: { type: DataTypes.DATE, allowNull: false },
      });
    },
    async down({ context: q }) {
      await q.dropTable('printers');
    },
  },
  {
    name: '0003-add-reprint-of',
    async up({ context: q }) {
      await q.addColumn('print_jobs', 'reprint_of', { type: DataTypes.INTEGER, allowNull: true });
    },
    async down({ context: q }) {
      await q.removeColumn('print_jobs', 'reprint_of');
    },
  },
  {
    name: '0004-add-job-kind-and-printer-condition',
    async up({ context: q }) {
      await q.addColumn('print_jobs', 'kind', {
        type: DataTypes.STRING(16),
        allowNull: false,
        defaultValue: 'message',
      });
      await q.addColumn('printers', 'condition', { type: DataTypes.STRING(32), allowNull: true });
    },
    async down({ context: q }) {
      await q.removeColumn('print_jobs', 'kind');
      await q.removeColumn('printers', 'condition');
    },
  },
  {
    // Issue 13 (the API): keys, idempotency keys, and who created each job.
    name: '0005-api-keys-and-idempotency',
    async up({ context: q }) {
      await q.createTable('api_keys', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        name: { type: DataTypes.STRING(64), allowNull: false, unique: true },
        // SHA-256 of the key, hex: the key itself is never stored.
        key_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        revoked_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.createTable('idempotency_keys', {
        // 'page', 'anonymous' or 'api-key:NAME': the same key from two callers is two keys.
        scope: { type: DataTypes.STRING(80), allowNull: false, primaryKey: true },
        key: { type: DataTypes.STRING(255), allowNull: false, primaryKey: true },
        request_hash: { type: DataTypes.STRING(64), allowNull: false },
        job_id: { type: DataTypes.INTEGER, allowNull: true },
        status_code: { type: DataTypes.INTEGER, allowNull: true },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await q.addIndex('idempotency_keys', ['created_at'], { name: 'idempotency_keys_created_at' });
      await q.addColumn('print_jobs', 'created_by', { type: DataTypes.STRING(80), allowNull: true });
      if (q.sequelize.getDialect() === 'postgres') {
        // rate-limiter-flexible's table (its own layout), shared by every instance.
        await q.createTable('rate_limits', {
          key: { type: DataTypes.STRING(255), primaryKey: true },
          points: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
          expire: { type: DataTypes.BIGINT, allowNull: true },
        });
      }
    },
    async down({ context: q }) {
      await q.removeColumn('print_jobs', 'created_by');
      await q.dropTable('idempotency_keys');
      await q.dropTable('api_keys');
      if (q.sequelize.getDialect() === 'postgres') await q.dropTable('rate_limits');
    },
  },
  {
    // Printers managed live (issue 14): each printer's MQTT token, hashed. A removed printer keeps its row
    // (token_hash null, removed_at set), so that PRINTERS does not bring it back at the next start.
    name: '0006-create-printer-accounts',
    async up({ context: q }) {
      await q.createTable('printer_accounts', {
        printer_id: { type: DataTypes.STRING(64), primaryKey: true },
        token_hash: { type: DataTypes.STRING(64), allowNull: true },
        created_at: { type: DataTypes.DATE, allowNull: false },
        updated_at: { type: DataTypes.DATE, allowNull: false },
        removed_at: { type: DataTypes.DATE, allowNull: true },
      });
      // What the agent says of itself in its status (version, uptime, journal size, last job), as JSON.
      await q.addColumn('printers', 'agent_info', { type: DataTypes.TEXT, allowNull: true });
    },
    async down({ context: q }) {
      await q.removeColumn('printers', 'agent_info');
      await q.dropTable('printer_accounts');
    },
  },
  {
    // The API's event log (issue 13): every job change, in commit order, for `GET /jobs/events` with
    // `Last-Event-ID` and for webhooks. Written by triggers, so that no write of `print_jobs` can forget it
    // and the event commits or rolls back with the change itself. On PostgreSQL the trigger takes one
    // transaction-level advisory lock before it draws an id, so that ids are handed out in commit order
    // across instances: a reader that has seen event N has seen every event below N.
    name: '0007-create-job-events',
    async up({ context: q }) {
      if (q.sequelize.getDialect() === 'postgres') {
        await q.sequelize.query(`CREATE TABLE job_events (
          id BIGSERIAL PRIMARY KEY,
          job_id INTEGER NOT NULL,
          printer_id VARCHAR(64) NOT NULL,
          status VARCHAR(16) NOT NULL,
          at TIMESTAMPTZ NOT NULL
        )`);
        await q.sequelize.query(`CREATE FUNCTION printhop_job_event() RETURNS trigger AS $$
          BEGIN
            PERFORM pg_advisory_xact_lock(${JOB_EVENTS_LOCK});
            INSERT INTO job_events (job_id, printer_id, status, at) VALUES (NEW.id, NEW.printer_id, NEW.status, NEW.updated_at);
            RETURN NULL;
          END $$ LANGUAGE plpgsql`);
        await q.sequelize.query(
          'CREATE TRIGGER job_events_insert AFTER INSERT ON print_jobs FOR EACH ROW EXECUTE FUNCTION printhop_job_event()',
        );
        await q.sequelize.query(
          'CREATE TRIGGER job_events_update AFTER UPDATE OF status ON print_jobs FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION printhop_job_event()',
        );
      } else {
        // AUTOINCREMENT: an id is never handed out twice, even after the log is pruned empty.
        await q.sequelize.query(`CREATE TABLE job_events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          job_id INTEGER NOT NULL,
          printer_id VARCHAR(64) NOT NULL,
          status VARCHAR(16) NOT NULL,
          at DATETIME NOT NULL
        )`);
        await q.sequelize.query(`CREATE TRIGGER job_events_insert AFTER INSERT ON print_jobs BEGIN
          INSERT INTO job_events (job_id, printer_id, status, at) VALUES (NEW.id, NEW.printer_id, NEW.status, NEW.updated_at);
        END`);
        await q.sequelize
          .query(`CREATE TRIGGER job_events_update AFTER UPDATE OF status ON print_jobs WHEN OLD.status IS NOT NEW.status BEGIN
          INSERT INTO job_events (job_id, printer_id, status, at) VALUES (NEW.id, NEW.printer_id, NEW.status, NEW.updated_at);
        END`);
      }
      await q.addIndex('job_events', ['at'], { name: 'job_events_at' });
    },
    async down({ context: q }) {
      await q.sequelize.query(
        'DROP TRIGGER IF EXISTS job_events_insert' + (q.sequelize.getDialect() === 'postgres' ? ' ON print_jobs' : ''),
      );
      await q.sequelize.query(
        'DROP TRIGGER IF EXISTS job_events_update' + (q.sequelize.getDialect() === 'postgres' ? ' ON print_jobs' : ''),
      );
      if (q.sequelize.getDialect() === 'postgres')
        await q.sequelize.query('DROP FUNCTION IF EXISTS printhop_job_event()');
      await q.dropTable('job_events');
    },
  },
  {
    // Webhooks (issue 13): endpoints, each with its cursor into job_events, and one delivery per endpoint
    // and event (the unique key makes queueing idempotent: an event read twice is queued once).
    // Times are epoch milliseconds.
    name: '0008-webhooks',
    async up({ context: q }) {
      await q.createTable('webhook_endpoints', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        url: { type: DataTypes.TEXT, allowNull: false },
        // `*` or event types comma separated (webhooks/webhook-events.ts).
        events: { type: DataTypes.TEXT, allowNull: false },
        // AES-256-GCM (webhooks/webhook-secrets.ts): the secret itself is never stored.
        secret_sealed: { type: DataTypes.TEXT, allowNull: false },
        // The id of the last job event queued for this endpoint (or skipped by its filter).
        last_event_id: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        removed_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.createTable('webhook_deliveries', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        endpoint_id: { type: DataTypes.INTEGER, allowNull: false },
        event_id: { type: DataTypes.BIGINT, allowNull: false },
        job_id: { type: DataTypes.INTEGER, allowNull: false },
        printer_id: { type: DataTypes.STRING(64), allowNull: false },
        type: { type: DataTypes.STRING(32), allowNull: false },
        // The JSON body, as of when the event was queued: every attempt sends the same bytes.
        payload: { type: DataTypes.TEXT, allowNull: false },
        // pending | delivering | delivered | failed
        status: { type: DataTypes.STRING(16), allowNull: false },
        attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        next_attempt_at: { type: DataTypes.BIGINT, allowNull: false },
        // While `delivering`: past this, the instance that claimed it is taken for dead and another may try.
        lease_until: { type: DataTypes.BIGINT, allowNull: true },
        last_status_code: { type: DataTypes.INTEGER, allowNull: true },
        last_error: { type: DataTypes.TEXT, allowNull: true },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        delivered_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.addIndex('webhook_deliveries', ['endpoint_id', 'event_id'], {
        name: 'webhook_deliveries_endpoint_event',
        unique: true,
      });
      await q.addIndex('webhook_deliveries', ['status', 'next_attempt_at'], { name: 'webhook_deliveries_due' });
    },
    async down({ context: q }) {
      await q.dropTable('webhook_deliveries');
      await q.dropTable('webhook_endpoints');
    },
  },
  {
    // Issue 24: a job's identity that no other database hands out again (the agent's journal and the acks
    // use it; integer ids start over in a new database and repeat after a restore). A random (version 4)
    // UUID, made by the store at insert (store/job-rules.ts `withUid`); rows from before get one here.
    // Nullable in the schema (SQLite cannot add a NOT NULL column without a default); every insert sets it.
    name: '0009-job-uid',
    async up({ context: q }) {
      await q.addColumn('print_jobs', 'uid', { type: DataTypes.STRING(36), allowNull: true });
      if (q.sequelize.getDialect() === 'postgres') {
        await q.sequelize.query('UPDATE print_jobs SET uid = gen_random_uuid()::text WHERE uid IS NULL');
      } else {
        // randomblob() draws from SQLite's own cryptographic generator; the version (4) and variant bits as RFC 9562 says.
        await q.sequelize.query(`UPDATE print_jobs SET uid = lower(
          hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
          substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))
        ) WHERE uid IS NULL`);
      }
      await q.addIndex('print_jobs', ['uid'], { name: 'print_jobs_uid', unique: true });
    },
    async down({ context: q }) {
      await q.removeIndex('print_jobs', 'print_jobs_uid');
      await q.removeColumn('print_jobs', 'uid');
    },
  },
  {
    // Pairing (issue 23): an agent's request for a code, until the admin approves it and the agent claims
    // its printer's token. Only the SHA-256 of the pairing secret is kept; the token itself never is (it is
    // made when the agent claims it). One pending pairing per code at a time. Times are epoch milliseconds.
    name: '0010-pairings',
    async up({ context: q }) {
      await q.createTable('pairings', {
        id: { type: DataTypes.STRING(32), primaryKey: true },
        code: { type: DataTypes.STRING(6), allowNull: false },
        secret_hash: { type: DataTypes.STRING(64), allowNull: false },
        machine: { type: DataTypes.STRING(64), allowNull: false },
        platform: { type: DataTypes.STRING(32), allowNull: false },
        printer: { type: DataTypes.STRING(32), allowNull: false },
        agent_version: { type: DataTypes.STRING(32), allowNull: false },
        address: { type: DataTypes.STRING(64), allowNull: false },
        // pending | approved | delivered | expired
        status: { type: DataTypes.STRING(16), allowNull: false },
        printer_id: { type: DataTypes.STRING(64), allowNull: true },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
        approved_at: { type: DataTypes.BIGINT, allowNull: true },
        delivered_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.sequelize.query("CREATE UNIQUE INDEX pairings_pending_code ON pairings (code) WHERE status = 'pending'");
      await q.addIndex('pairings', ['expires_at'], { name: 'pairings_expires_at' });
    },
    async down({ context: q }) {
      await q.dropTable('pairings');
    },
  },
  {
    // The webhook delivery log (issue 23): one row per attempt (its time, HTTP status or error, duration and what
    // follows), written by the dispatcher after each one; `webhook_deliveries` keeps only the latest state. Bounded:
    // a finished delivery's attempts go with its payload (WEBHOOK_PAYLOAD_DAYS) or with the delivery itself
    // (JOB_RETENTION_DAYS). Times are epoch milliseconds.
    name: '0011-webhook-attempts',
    async up({ context: q }) {
      await q.createTable('webhook_attempts', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        delivery_id: { type: DataTypes.INTEGER, allowNull: false },
        endpoint_id: { type: DataTypes.INTEGER, allowNull: false },
        // The delivery's attempt number (its `attempts` after the claim).
        attempt: { type: DataTypes.INTEGER, allowNull: false },
        started_at: { type: DataTypes.BIGINT, allowNull: false },
        duration_ms: { type: DataTypes.INTEGER, allowNull: false },
        status_code: { type: DataTypes.INTEGER, allowNull: true },
        error: { type: DataTypes.TEXT, allowNull: true },
        // delivered | retry | failed
        outcome: { type: DataTypes.STRING(16), allowNull: false },
        next_attempt_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.addIndex('webhook_attempts', ['delivery_id', 'id'], { name: 'webhook_attempts_delivery' });
      await q.addIndex('webhook_attempts', ['endpoint_id', 'id'], { name: 'webhook_attempts_endpoint' });
    },
    async down({ context: q }) {
      await q.dropTable('webhook_attempts');
    },
  },
  {
    // Issue 22: the index on job_events.at was read once an hour (the log's pruning) and written by every
    // commit that changed a job (one page of SQLite's WAL, two pwrite64 calls, a seventh of a job's insert).
    // The pruning now walks the log in id order, which follows `at`, and stops at the first event it keeps.
    name: '0012-drop-job-events-at',
    async up({ context: q }) {
      await q.removeIndex('job_events', 'job_events_at');
    },
    async down({ context: q }) {
      await q.addIndex('job_events', ['at'], { name: 'job_events_at' });
    },
  },
  {
    // Issue 22: (printer_id, status, id) took every status move of every job: its entry left one status's
    // run of the printer and joined the next, two leaves a printer a commit, so a group commit spread over
    // ten printers wrote about twenty of its pages to the WAL (1.4 of a job's 3.4 pages under load). What
    // reads by printer wants the unfinished jobs only (the re-publishing, the counts, the stall watchdog),
    // so the index now holds those and nothing else: a few leaves in all, which a job enters when it is
    // stored and leaves when it is finished, its key never changing between. The queries name the same
    // statuses with the same text (store/sql-print-store.ts UNFINISHED_SQL), or the planners cannot use it.
    name: '0013-unfinished-jobs-index',
    async up({ context: q }) {
      await q.removeIndex('print_jobs', 'print_jobs_printer_status');
      await q.sequelize.query(
        "CREATE INDEX print_jobs_unfinished ON print_jobs (printer_id, id) WHERE status IN ('pending', 'sent', 'received')",
      );
    },
    async down({ context: q }) {
      await q.sequelize.query('DROP INDEX print_jobs_unfinished');
      await q.addIndex('print_jobs', ['printer_id', 'status', 'id'], { name: 'print_jobs_printer_status' });
    },
  },
];
