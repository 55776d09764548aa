/**
 * The SQLite store's batches (one script, then one read of the new events: store/sqlite-print-store.ts)
 * against the in-memory store, which applies the rules of store/job-rules.ts one write at a time: random
 * batches of inserts and moves, fired in one tick so that each is one group commit, must answer the same
 * rows, store the same jobs and log the same events; and the events handed to the change log are the log's
 * own, read after the commit.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { JOB_STATUSES } from '../../../protocol/states';
import type {
  CommittedEvents,
  PrintJob,
  PrintStore,
  TransitionRequest,
} from '../../../broker-server/store/print-store';
import { startTestDatabase } from '../../support/harness';
import { MemoryPrintStore } from '../../support/memory-print-store';

/** Text UTF-8 can carry (no lone surrogate half). */
const wellFormed = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;

/** The times each store stamps itself (its commit's clock) are the only fields allowed to differ. */
const same = (job: PrintJob | null) => (job ? { ...job, createdAt: 'T', updatedAt: 'T' } : null);

type Op =
  | { kind: 'insert'; printer: string; content: string; createdBy: string | null }
  | {
      kind: 'move';
      job: number;
      to: (typeof JOB_STATUSES)[number];
      printer?: string;
      uid: 'right' | 'wrong' | 'none';
      error?: string;
    };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    printer: fc.constantFrom('p1', 'p2'),
    content: fc.string({ unit: 'binary', maxLength: 20 }).filter(wellFormed),
    createdBy: fc.option(fc.constantFrom('alice', "o'brien"), { nil: null }),
  }),
  fc.record(
    {
      kind: fc.constant('move' as const),
      job: fc.oneof(fc.nat({ max: 4 }), fc.nat({ max: 40 })),
      to: fc.constantFrom(...JOB_STATUSES),
      printer: fc.constantFrom('p1', 'p2'),
      uid: fc.constantFrom('right' as const, 'wrong' as const, 'none' as const),
      error: fc.constantFrom('no paper', "it's jammed"),
    },
    { requiredKeys: ['kind', 'job', 'to', 'uid'] },
  ),
);

test('SQLite batches answer, store and log exactly what the memory store does, write by write', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const sqlite = db.createPrintStore();
  const memory = new MemoryPrintStore();
  let commits = 0;
  sqlite.observeCommits?.(() => commits++);
  const handed: Array<{ last: number; events?: CommittedEvents }> = [];
  sqlite.onCommitted((last, events) => handed.push({ last, events }));
  const uids: string[] = [];
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const at = new Date(Date.now() - 1000);
      const run = (store: PrintStore, uidsNow: string[]) =>
        Promise.all(
          ops.map((o, i) => {
            if (o.kind === 'insert')
              return store.insert({
                uid: uidsNow[i]!,
                printerId: o.printer,
                content: o.content,
                kind: 'message',
                reprintOf: null,
                createdBy: o.createdBy,
              });
            // A job that exists before the batch, or one that never will (a batch writes its inserts first,
            // the memory store in call order: a move naming a job the same batch creates is not compared).
            const id = o.job < uids.length ? o.job + 1 : 999_999;
            const request: TransitionRequest = { id, to: o.to, at, ...(o.printer ? { printerId: o.printer } : {}) };
            if (o.uid !== 'none') request.uid = o.uid === 'right' ? (uids[id - 1] ?? randomUUID()) : randomUUID();
            if (o.error) request.error = o.error;
            return store.transition(request);
          }),
        );
      const uidsNow = ops.map(() => randomUUID());
      const before = commits;
      const { last: eventsBefore } = await sqlite.eventBounds();
      const [fromSqlite, fromMemory] = [await run(sqlite, uidsNow), await run(memory, uidsNow)];
      for (const [i, o] of ops.entries()) if (o.kind === 'insert') uids.push(uidsNow[i]!);
      assert.equal(commits, before + 1, 'the whole batch was one commit');
      assert.deepEqual(fromSqlite.map(same), fromMemory.map(same), 'each write answered as the memory store does');
      // What is stored, and the log, entry for entry.
      for (const job of fromMemory.filter((j) => j !== null))
        assert.deepEqual(same(await sqlite.get(job.id)), same(await memory.get(job.id)));
      const logged = await sqlite.eventsAfter(eventsBefore, 10_000);
      // Each job's events in the order of its moves (a batch writes its inserts first, then the moves).
      const perJob = (events: Awaited<ReturnType<PrintStore['eventsAfter']>>) =>
        events
          .map((e) => `${e.job?.id} ${e.job?.status}`)
          .sort((x, y) => Number(x.split(' ')[0]) - Number(y.split(' ')[0]));
      assert.deepEqual(perJob(logged), perJob(await memory.eventsAfter(eventsBefore, 10_000)));
      // Handed after the commit: exactly the log's events since the previous end, as the log gives them.
      if (logged.length) {
        const last = handed.at(-1)!;
        assert.equal(last.last, logged.at(-1)!.id);
        assert.equal(last.events?.after, eventsBefore);
        assert.deepEqual(last.events?.events, logged);
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(uids.length > 0);
});

test('SQLite: a batch that fails writes none of its jobs, rejects every write of it, and the next batch commits', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  const job = (content: string, uid?: string) => ({
    printerId: 'p1',
    content,
    kind: 'message' as const,
    reprintOf: null,
    ...(uid ? { uid } : {}),
  });
  const first = await store.insert(job('first'));
  const { last } = await store.eventBounds();
  // One batch: a job, a move, and a job whose uid is taken (UNIQUE): all of it rolls back.
  const results = await Promise.allSettled([
    store.insert(job('a')),
    store.transition({ id: first.id, to: 'sent', at: new Date() }),
    store.insert(job('b', first.uid)),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected', 'rejected'],
  );
  assert.equal((await store.get(first.id))?.status, 'pending');
  assert.deepEqual(
    (await store.list({})).map((j) => j.content),
    ['first'],
  );
  assert.equal((await store.eventBounds()).last, last, 'no event of it');
  const [a, sent] = await Promise.all([
    store.insert(job('a')),
    store.transition({ id: first.id, to: 'sent', at: new Date() }),
  ]);
  assert.equal(a.content, 'a');
  assert.equal(sent?.status, 'sent');
  assert.deepEqual(
    (await store.eventsAfter(last, 10)).map((e) => `${e.job?.content} ${e.job?.status}`),
    ['a pending', 'first sent'],
  );
});

test('SQLite: in one batch, a refused move never takes the event of a later move of the same job to the same status', async (t) => {
  const store = (await startTestDatabase(t, 'sqlite')).createPrintStore();
  const job = await store.insert({ printerId: 'p1', content: 'x', kind: 'message', reprintOf: null });
  const at = new Date();
  const moves = await Promise.all([
    store.transition({ id: job.id, to: 'received', uid: randomUUID(), at }),
    store.transition({ id: job.id, to: 'received', printerId: 'p2', at }),
    store.transition({ id: job.id, to: 'received', printerId: 'p1', uid: job.uid, at }),
    store.transition({ id: job.id, to: 'printed', printerId: 'p2', at }),
    store.transition({ id: job.id, to: 'received', at }),
    store.transition({ id: job.id, to: 'printed', printerId: 'p1', at }),
  ]);
  assert.deepEqual(
    moves.map((m) => m?.status ?? null),
    [null, null, 'received', null, null, 'printed'],
  );
  assert.equal(moves[2]!.printedAt, null, 'the row as that move left it, not as the batch did');
  assert.equal(moves[2]!.finishedAt, null);
  assert.equal(moves[5]!.printedAt, at.toISOString());
});

test('SQLite: a write alone hands its own event with the right id, even after another writer’s; a batch hands theirs too', async (t) => {
  const db = await startTestDatabase(t, 'sqlite');
  const store = db.createPrintStore();
  const handed: Array<{ last: number; events?: CommittedEvents }> = [];
  store.onCommitted((last, events) => handed.push({ last, events }));
  const other = (content: string) =>
    db.sql.run(
      `INSERT INTO print_jobs (uid, printer_id, content, kind, status, created_at, updated_at) VALUES ($1, 'p1', $2, 'message', 'pending', $3, $3)`,
      [randomUUID(), content, db.sql.date(new Date())],
    );
  const job = (content: string) => ({ printerId: 'p1', content, kind: 'message' as const, reprintOf: null });
  const lastHanded = () => {
    const h = handed.at(-1)!;
    return { last: h.last, after: h.events?.after, events: h.events?.events.map((e) => `${e.id} ${e.job?.content}`) };
  };
  const a = await store.insert(job('a'));
  assert.deepEqual(lastHanded(), { last: 1, after: 0, events: ['1 a'] });
  await other('by the CLI');
  const sent = await store.transition({ id: a.id, to: 'sent', at: new Date() });
  assert.equal(sent?.status, 'sent');
  assert.deepEqual(lastHanded(), { last: 3, after: 2, events: ['3 a'] }, 'its own event only: event 2 is a gap');
  assert.equal(await store.transition({ id: a.id, to: 'sent', at: new Date() }), null);
  assert.equal(handed.length, 2, 'a refused move alone wakes nobody');
  await other('by the CLI again');
  await Promise.all([store.insert(job('b')), store.insert(job('c'))]);
  assert.deepEqual(lastHanded(), { last: 6, after: 3, events: ['4 by the CLI again', '5 b', '6 c'] });
  // What was handed is what the log holds.
  for (const h of handed)
    assert.deepEqual(h.events!.events, await store.eventsAfter(h.events!.after, h.events!.events.length));
});
