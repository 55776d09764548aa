/** The group commit's batching rules, on a fake batch writer and mocked timers. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { DEFER_MS, GroupCommit } from '../../../broker-server/store/group-commit';
import type { NewJob, TransitionRequest } from '../../../broker-server/store/print-store';

interface Row {
  id: number;
  status: string;
}

/** A writer that records each batch (inserts, then rounds of `id:status`) and moves every request. */
function recorder(fail = false) {
  const batches: string[][] = [];
  let next = 1;
  const commit = new GroupCommit<Row>(async (inserts: NewJob[], rounds: TransitionRequest[][]) => {
    batches.push([
      ...inserts.map((j) => `insert:${j.content}`),
      ...rounds.map((round) => round.map((r) => `${r.id}:${r.to}`).join(',')),
    ]);
    if (fail) throw new Error('disk full');
    return {
      inserted: inserts.map(() => ({ id: next++, status: 'pending' })),
      updated: rounds.map((round) => round.map((r) => ({ id: r.id, status: r.to }))),
    };
  });
  return { commit, batches };
}

const move = (id: number, to: TransitionRequest['to']): TransitionRequest => ({ id, to, at: new Date() });
const job = (content: string): NewJob => ({ printerId: 'p1', content, kind: 'message', reprintOf: null });

/** Lets the mocked clock run `ms` and the promise jobs that follow settle. */
async function run(t: TestContext, ms = 0): Promise<void> {
  t.mock.timers.tick(ms);
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

test('writes of one tick share one commit', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
  const { commit, batches } = recorder();
  const rows = Promise.all([commit.insert(job('a')), commit.insert(job('b')), commit.transition(move(7, 'received'))]);
  await run(t);
  assert.deepEqual(await rows, [
    { id: 1, status: 'pending' },
    { id: 2, status: 'pending' },
    { id: 7, status: 'received' },
  ]);
  assert.deepEqual(batches, [['insert:a', 'insert:b', '7:received']]);
});

test('a deferrable write starts no commit: it rides with the next write, in order before it', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
  const { commit, batches } = recorder();
  let sentCommitted = false;
  const sent = commit.transition(move(1, 'sent'), true).then((row) => ((sentCommitted = true), row));
  await run(t, DEFER_MS - 1);
  assert.deepEqual(batches, [], 'nothing committed yet');
  assert.equal(sentCommitted, false, 'and the mark is not reported as committed');
  assert.equal(commit.backlog, 1);
  const received = commit.transition(move(1, 'received'));
  await run(t);
  assert.deepEqual(batches, [['1:sent', '1:received']], 'one commit, the mark first');
  assert.deepEqual(await sent, { id: 1, status: 'sent' });
  assert.deepEqual(await received, { id: 1, status: 'received' });
  await run(t, DEFER_MS);
  assert.equal(batches.length, 1, 'the deadline of a write that already rode starts no commit');
});

test('a deferrable write with nothing to ride with is committed after DEFER_MS', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
  const { commit, batches } = recorder();
  const sent = commit.transition(move(3, 'sent'), true);
  await run(t, DEFER_MS - 1);
  assert.deepEqual(batches, []);
  await run(t, 1);
  await run(t);
  assert.deepEqual(batches, [['3:sent']]);
  assert.deepEqual(await sent, { id: 3, status: 'sent' });
});

test('a batch that fails rejects every write in it, deferred ones too', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
  const { commit } = recorder(true);
  const sent = commit.transition(move(1, 'sent'), true);
  const inserted = commit.insert(job('a'));
  await run(t);
  await assert.rejects(sent, /disk full/);
  await assert.rejects(inserted, /disk full/);
});
