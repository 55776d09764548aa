/**
 * The SQLite store reads its event log with each event as one JSON text (store/sqlite-print-store.ts
 * `eventsAsJson`): after each commit, and for the log's readers (`eventsAfter`). It must give exactly what the row
 * read gives (sql-print-store.ts EVENTS_AFTER, each row through `toJobEvent`), for any content, for jobs in every
 * status, for a job pruned from under its events and for a date in another text than the store's own, with a limit
 * or without; and JOB_COLUMNS must name every column of `print_jobs` as the migrations make it. Its reads of jobs
 * (`get`, `list`, `unfinished`, `stale`: `selectJobs`) read each row as one JSON text too, and must give what the
 * base class's row read gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Database } from '../../../broker-server/store/database';
import { JOB_COLUMNS } from '../../../broker-server/store/job-rows';
import type { JobEvent, NewJob, PrintJob, TransitionRequest } from '../../../broker-server/store/print-store';
import {
  EVENTS_AFTER,
  type EventRow,
  SqlPrintStore,
  toJobEvent,
  type WrittenBatch,
} from '../../../broker-server/store/sql-print-store';
import { eventsAsJson } from '../../../broker-server/store/sqlite-print-store';
import { startTestDatabase } from '../../support/harness';

/** The log as the row read gives it: every event after `after`. */
const rowRead = async (db: Database, after = 0): Promise<JobEvent[]> =>
  (await db.committed.all<EventRow>(EVENTS_AFTER, [after])).map(toJobEvent);

/** Contents that break quoting, JSON or UTF-8 if anything is done wrong, and the longest a job may have. */
const CONTENTS = [
  '',
  'plain',
  '"quoted" \\ back\\slash / slash',
  "'); DROP TABLE print_jobs; --",
  'a\u0000b\u0001\u001f\u007f',
  'tab\tnew\nline\rcarriage',
  '\u2028\u2029',
  '\u{1F9FE} reçu € ñ 日本',
  'lone \ud800 half',
  '[1,2,{"a":null}]',
  'x'.repeat(4000),
];

async function jobsInEveryStatus(db: Database): Promise<void> {
  const store = db.createPrintStore();
  // One at a time (a write alone: bound values) and together (a batch: the script's JSON rows).
  const alone = await store.insert({ printerId: 'p1', content: CONTENTS[4]!, kind: 'message', reprintOf: null });
  const together = await Promise.all(
    CONTENTS.map((content, i) =>
      store.insert({
        printerId: `p${i % 3}`,
        content,
        kind: i % 4 === 0 ? 'test' : 'message',
        reprintOf: i % 5 === 0 ? alone.id : null,
        createdBy: i % 2 ? `key ${i}` : null,
      }),
    ),
  );
  const jobs = [alone, ...together];
  const move = (to: 'sent' | 'received' | 'printed' | 'failed' | 'interrupted', from: number, error?: string) =>
    Promise.all(
      jobs.slice(from).map((job) => store.transition({ id: job.id, to, at: new Date(), uid: job.uid, error })),
    );
  await move('sent', 1);
  await move('received', 3);
  await store.transition({ id: jobs[3]!.id, to: 'failed', at: new Date(), error: 'paper out: "é" \u0000 \\' });
  await store.transition({ id: jobs[4]!.id, to: 'interrupted', at: new Date(), error: 'power lost' });
  await move('printed', 5);
  // A job pruned from under its events (their job is null), and dates in a text another writer may have used.
  await db.sql.run('DELETE FROM print_jobs WHERE id = $1', [jobs[2]!.id]);
  await db.sql.run("UPDATE print_jobs SET created_at = '2026-12-07T10:00:00.5Z' WHERE id = $1", [jobs[6]!.id]);
  await db.sql.run("UPDATE job_events SET at = '2026-12-07 10:00:01' WHERE id = 2");
}

test('JOB_COLUMNS names every column of print_jobs, once', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const columns = await db.sql.all<{ name: string }>("SELECT name FROM pragma_table_info('print_jobs')");
  assert.deepEqual([...JOB_COLUMNS].sort(), columns.map((c) => c.name).sort());
  assert.equal(new Set(JOB_COLUMNS).size, JOB_COLUMNS.length);
});

test('the JSON read gives the events the row read gives, job for job, with a limit or without', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  await jobsInEveryStatus(db);
  const expected = await rowRead(db);
  assert.ok(expected.length > 40, `${expected.length} events`);
  assert.ok(expected.some((e) => e.job === null) && expected.some((e) => e.job?.status === 'failed'));
  assert.equal(expected.find((e) => e.id === 2)?.job?.updatedAt, '2026-12-07T10:00:01.000Z');

  assert.deepStrictEqual(await eventsAsJson(db.committed, 0, 10_000), expected);
  assert.deepStrictEqual(await db.createPrintStore().eventsAfter(0, 10_000), expected);
  assert.deepStrictEqual(await eventsAsJson(db.sql, 5, 7), expected.slice(5, 12), 'after an id, at most the limit');
  assert.deepStrictEqual(await eventsAsJson(db.sql, expected.at(-1)!.id, 10), [], 'nothing after the newest');
  // The read after a commit: every event after an id, no limit.
  assert.deepStrictEqual(await eventsAsJson(db.sql, 0), expected);
  assert.deepStrictEqual(await eventsAsJson(db.sql, 10), await rowRead(db, 10));
});

test('any content reads back the same through JSON as through rows', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  let after = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 })), {
        minLength: 1,
        maxLength: 8,
      }),
      async (contents) => {
        await Promise.all(
          contents.map((content) => store.insert({ printerId: 'p1', content, kind: 'message', reprintOf: null })),
        );
        const expected = await rowRead(db, after);
        assert.equal(expected.length, contents.length);
        assert.deepStrictEqual(await eventsAsJson(db.committed, after, 100), expected);
        after = expected.at(-1)!.id;
      },
    ),
    { numRuns: 60 },
  );
});

/** The base class's reads, as sqlite3 gives rows (no override of selectJobs): what the JSON reads must equal. */
class RowReads extends SqlPrintStore {
  protected writeBatch(_inserts: NewJob[], _rounds: TransitionRequest[][]): Promise<WrittenBatch> {
    throw new Error('reads only');
  }
}

test('the reads of jobs (get, list, unfinished pages, stale) give through JSON what they give through rows', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  await jobsInEveryStatus(db);
  const store = db.createPrintStore();
  const rows = new RowReads(db.sql, db.committed);
  const all = await rows.list({ limit: 1000 });
  assert.ok(all.length >= 10 && new Set(all.map((j) => j.status)).size >= 5, `${all.length} jobs`);
  assert.ok(all.some((j) => j.error !== null) && all.some((j) => j.reprintOf !== null) && all.some((j) => j.createdBy));
  // The store's reads are the JSON ones (one column a row), not the base class's.
  const texts: string[] = [];
  const all_ = db.sql.all.bind(db.sql);
  db.sql.all = ((sql: string, bind?: unknown[]) => (texts.push(sql), all_(sql, bind))) as typeof db.sql.all;
  await store.list({ limit: 1 });
  assert.match(texts.at(-1)!, /^SELECT json_array\(/);
  const same = (actual: PrintJob[] | PrintJob | null, expected: PrintJob[] | PrintJob | null, what: string) =>
    assert.deepStrictEqual(actual, expected, what);

  for (const job of all) same(await store.get(job.id), await rows.get(job.id), `get ${job.id}`);
  same(await store.get(999_999), null, 'a job that is not there');
  for (const filter of [
    { limit: 1000 },
    { limit: 3 },
    { status: 'printed' as const, limit: 50 },
    { printerId: 'p1', limit: 50 },
    { beforeId: all[2]!.id, limit: 4 },
    { since: new Date(Date.now() - 3_600_000), until: new Date(Date.now() + 60_000), limit: 50 },
  ])
    same(await store.list(filter), await rows.list(filter), `list ${JSON.stringify(filter)}`);
  const unfinished = await rows.unfinished();
  assert.ok(unfinished.length >= 2, `${unfinished.length} unfinished`);
  same(await store.unfinished(), unfinished, 'every unfinished job');
  same(await store.unfinished('p1'), await rows.unfinished('p1'), "one printer's");
  same(
    await store.unfinished(undefined, unfinished[0]!.id, 1),
    await rows.unfinished(undefined, unfinished[0]!.id, 1),
    'a page',
  );
  for (const id of ['p0', 'p1', 'p2'])
    await store.writePrinterStatus(id, { state: 'online', condition: null, detail: null, at: new Date() });
  const stale = await rows.stale(new Date(Date.now() + 60_000));
  assert.ok(stale.length >= 2, `${stale.length} stale`);
  same(await store.stale(new Date(Date.now() + 60_000)), stale, 'stale');
});
