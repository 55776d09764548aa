/**
 * Two instances on one PostgreSQL database, each with the event log's one reader
 * (broker-server/jobs/job-change-log.ts) woken by the other's NOTIFY (cluster/event-log-notices.ts):
 * a notice carries only the newest event id, and a change committed while the listening connection was
 * down is read once it is back, not lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresEventLogNotices } from '../../../broker-server/cluster/event-log-notices';
import { JobChangeLog } from '../../../broker-server/jobs/job-change-log';
import { JOB_EVENTS_CHANNEL } from '../../../broker-server/store/postgres-print-store';
import { startTestDatabase, testLogger, waitFor } from '../../support/harness';
import { createTestDatabase, postgresMissing } from '../../support/services';

const newJob = (content: string) => ({ printerId: 'p1', content, kind: 'message' as const, reprintOf: null });

test(
  "another instance's changes reach this one's followers by NOTIFY, and those made while the listening connection was down once it is back",
  { skip: postgresMissing() },
  async (t) => {
    const databaseUrl = await createTestDatabase();
    const [a, b] = await Promise.all(
      [0, 1].map(async () => (await startTestDatabase(t, 'postgres', databaseUrl)).createPrintStore()),
    );
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    t.after(() => admin.end());
    const heard: Array<string | undefined> = [];
    admin.on('notification', (n) => heard.push(n.payload));
    await admin.query(`LISTEN ${JOB_EVENTS_CHANNEL}`);

    const log = testLogger();
    const changes = new JobChangeLog(b!, log, new PostgresEventLogNotices(databaseUrl, 'instance-b', log));
    await changes.start();
    t.after(() => changes.stop());
    const seen: string[] = [];
    changes.follow((events) => {
      for (const e of events) seen.push(`${e.job!.content}:${e.job!.status}`);
    });

    const first = await a!.insert(newJob('one'));
    await a!.transition({ id: first.id, to: 'sent', at: new Date() });
    await waitFor('the first changes on the other instance', () => seen.length === 2);
    assert.deepEqual(seen, ['one:pending', 'one:sent']);
    await waitFor('both notices', () => heard.length === 2);
    assert.ok(
      heard.every((payload) => /^\d+$/.test(payload ?? '')),
      `a notice is the newest event id, nothing else: ${heard.join(', ')}`,
    );

    // The listening connection dies; a change is committed before it is back.
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()',
      [`LISTEN ${JOB_EVENTS_CHANNEL}`],
    );
    assert.equal(rows.length, 1, 'one listening connection besides this test');
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await waitFor('the connection gone', async () => {
      const left = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [rows[0]!.pid]);
      return left.rowCount === 0;
    });
    await a!.insert(newJob('unheard'));
    await waitFor('the change made while the connection was down', () => seen.length === 3);
    assert.deepEqual(seen, ['one:pending', 'one:sent', 'unheard:pending']);
  },
);
