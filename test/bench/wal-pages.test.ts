/**
 * What a job costs SQLite's WAL, counted on the real store (bench/wal-pages.ts): a regression check of the job
 * table's indexes (DESIGN.md "The job write path on SQLite"). Page counts do not depend on the machine: an index
 * whose entry moves with every status change, or random keys in a growing index, shows here as pages a job.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { walPages } from '../../bench/wal-pages';

test('a group commit of 32 jobs writes under 2 WAL pages a job over its four steps; a job alone under 25', async () => {
  const batched = await walPages(640, 32);
  // 1.3-1.4 with time-ordered uids and the partial index of unfinished jobs; 2.7 with random uids and
  // (printer_id, status, id), which moved two leaves a printer a commit.
  assert.ok(batched.framesPerJob < 2, `batches of 32: ${JSON.stringify(batched)}`);
  assert.ok(batched.perCommit.sent! < 15, `a batch's sent moves: ${JSON.stringify(batched)}`);
  const alone = await walPages(40, 1);
  assert.ok(alone.framesPerJob < 25, `a job alone: ${JSON.stringify(alone)}`);
});
