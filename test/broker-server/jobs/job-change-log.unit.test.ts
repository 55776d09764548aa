/** The job event log's one reader (broker-server/jobs/job-change-log.ts) on the in-memory store: no database. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { type EventLog, JobChangeLog, type OtherWriters } from '../../../broker-server/jobs/job-change-log';
import type { JobEvent } from '../../../broker-server/store/print-store';
import { jobAsOf } from '../../../broker-server/store/job-rules';
import { MemoryPrintStore } from '../../support/memory-print-store';

const log = pino({ level: 'silent' });
const newJob = (content: string) => ({ printerId: 'p1', content, kind: 'message' as const, reprintOf: null });

/** Other instances' notices, sent by hand. */
class Notices implements OtherWriters {
  private listener: ((id: number | null) => void) | null = null;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  onNotice(listener: (id: number | null) => void): void {
    this.listener = listener;
  }
  send(id: number | null): void {
    this.listener?.(id);
  }
}

/** The store's log, counting its reads; `deaf`: its own commits wake nobody (another instance's store). */
function logOf(store: MemoryPrintStore, options: { deaf?: boolean } = {}) {
  const reads: number[] = [];
  const events: EventLog = {
    eventsAfter: (afterId, limit) => (reads.push(afterId), store.eventsAfter(afterId, limit)),
    eventBounds: () => store.eventBounds(),
    onCommitted: (listener) => (options.deaf ? undefined : store.onCommitted(listener)),
  };
  return { events, reads };
}

async function started(t: TestContext, events: EventLog, others?: OtherWriters) {
  const changes = new JobChangeLog(events, log, others);
  await changes.start();
  t.after(() => changes.stop());
  const seen: string[] = [];
  const follow = () =>
    changes.follow((page: JobEvent[]) => {
      for (const e of page) seen.push(`${e.id}:${e.job!.content}:${e.job!.status}`);
    });
  const level = async (id: number) => {
    const deadline = Date.now() + 5000;
    while (changes.position < id && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    assert.equal(changes.position, id, `the reader reached event ${id}`);
  };
  return { changes, seen, follow, level };
}

test("this instance's commits and other instances' notices reach the followers once each, in commit order", async (t) => {
  const store = new MemoryPrintStore();
  const here = await started(t, logOf(store).events);
  const notices = new Notices();
  const elsewhere = logOf(store, { deaf: true });
  const there = await started(t, elsewhere.events, notices);
  here.follow();
  there.follow();
  const a = await store.insert(newJob('a'));
  const b = await store.insert(newJob('b'));
  await store.transition({ id: a.id, to: 'sent', at: new Date() });
  await store.transition({ id: b.id, to: 'sent', at: new Date() });
  await store.transition({ id: a.id, to: 'printed', at: new Date() });
  await here.level(5);
  const expected = ['1:a:pending', '2:b:pending', '3:a:sent', '4:b:sent', '5:a:printed'];
  assert.deepEqual(here.seen, expected);
  assert.deepEqual(there.seen, [], 'another instance hears nothing before its notice');
  // Notices may come late, twice and out of order: each says only how far the log reaches.
  notices.send(3);
  notices.send(5);
  notices.send(4);
  notices.send(5);
  await there.level(5);
  assert.deepEqual(there.seen, expected);
  const readsBefore = elsewhere.reads.length;
  notices.send(2);
  notices.send(5);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(elsewhere.reads.length, readsBefore, 'a notice of what was read already reads nothing');
});

test('nothing is read while nobody follows; a follower gets what is committed after it joins', async (t) => {
  const store = new MemoryPrintStore();
  const { events, reads } = logOf(store);
  const { changes, seen, follow, level } = await started(t, events);
  const grew: number[] = [];
  changes.onGrowth(() => grew.push(changes.position));
  await store.insert(newJob('before'));
  await store.insert(newJob('before too'));
  await level(2);
  assert.deepEqual(reads, [], 'no follower: the log is not read');
  assert.equal(grew.length, 2, 'but each growth wakes the listeners');
  const unfollow = follow();
  await store.insert(newJob('after'));
  await level(3);
  assert.deepEqual(seen, ['3:after:pending']);
  assert.deepEqual(reads, [2]);
  unfollow();
  await store.insert(newJob('alone again'));
  await level(4);
  assert.deepEqual(reads, [2], 'unfollowed: not read again');
});

test('a notice that says some may have been missed (a reconnection) makes it look at the log', async (t) => {
  const store = new MemoryPrintStore();
  const notices = new Notices();
  const { seen, follow, level } = await started(t, logOf(store, { deaf: true }).events, notices);
  follow();
  await store.insert(newJob('x'));
  await store.insert(newJob('y'));
  notices.send(null);
  await level(2);
  assert.deepEqual(seen, ['1:x:pending', '2:y:pending']);
});

test('it starts at the end of the log: changes from before its start are not handed out', async (t) => {
  const store = new MemoryPrintStore();
  await store.insert(newJob('old'));
  const { seen, follow, level } = await started(t, logOf(store).events);
  follow();
  await store.insert(newJob('new'));
  await level(2);
  assert.deepEqual(seen, ['2:new:pending']);
});

/**
 * The store's log handing each commit's events with its wake-up, as the SQLite store does: every event after
 * the last one it handed. `mute()`: the next commit wakes nobody (another writer, or a store that lost
 * count), and `rebase`: the store starts again from the end of the log, so what it hands next leaves a gap.
 * `hold()`: reads of the log wait until released (a read in flight).
 */
function handingLog(store: MemoryPrintStore) {
  const reads: number[] = [];
  let from = 0;
  let muted: 'keep' | 'rebase' | null = null;
  let gate: Promise<void> | null = null;
  const events: EventLog = {
    eventsAfter: async (afterId, limit) => {
      reads.push(afterId);
      const page = await store.eventsAfter(afterId, limit);
      await gate;
      return page;
    },
    eventBounds: () => store.eventBounds(),
    onCommitted: (listener) =>
      store.onCommitted((id) => {
        const after = from;
        const handed = store.events
          .filter((e) => e.id > after)
          .map((e) => ({ id: e.id, job: jobAsOf({ ...store.jobs.get(e.jobId)! }, e.status, e.at) }));
        if (muted) {
          if (muted === 'rebase') from = id;
          muted = null;
          return;
        }
        from = id;
        listener(id, { after, events: handed });
      }),
  };
  return {
    events,
    reads,
    mute: (how: 'keep' | 'rebase') => void (muted = how),
    hold: () => {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      return () => {
        gate = null;
        open();
      };
    },
  };
}

test('the events a commit hands over go to the followers without reading the log, once each, in order', async (t) => {
  const store = new MemoryPrintStore();
  const handing = handingLog(store);
  const { changes, seen, follow, level } = await started(t, handing.events);
  const grew: number[] = [];
  changes.onGrowth(() => grew.push(changes.position));
  follow();
  const a = await store.insert(newJob('a'));
  await store.insert(newJob('b'));
  await store.transition({ id: a.id, to: 'sent', at: new Date() });
  await level(3);
  assert.deepEqual(seen, ['1:a:pending', '2:b:pending', '3:a:sent']);
  assert.deepEqual(handing.reads, [], 'not read: handed');
  assert.equal(grew.length, 3, 'webhooks are still woken at each growth');
  // Events another writer committed come with the next commit's (they are after the last one handed).
  handing.mute('keep');
  await store.insert(newJob('c'));
  await store.insert(newJob('d'));
  await level(5);
  assert.deepEqual(seen.slice(3), ['4:c:pending', '5:d:pending']);
  assert.deepEqual(handing.reads, []);
});

test('handed events that do not start where the followers stand are not used: the log is read, nothing skipped', async (t) => {
  const store = new MemoryPrintStore();
  const handing = handingLog(store);
  const { seen, follow, level } = await started(t, handing.events);
  follow();
  await store.insert(newJob('a'));
  await level(1);
  // A commit the log never heard of, after which the store hands events from the end of the log: a gap.
  handing.mute('rebase');
  await store.insert(newJob('missed'));
  await store.insert(newJob('b'));
  await level(3);
  assert.deepEqual(seen, ['1:a:pending', '2:missed:pending', '3:b:pending']);
  assert.deepEqual(handing.reads, [1], 'read from where the followers stood');
});

test('events handed while a read of the log is under way are not handed twice', async (t) => {
  const store = new MemoryPrintStore();
  const handing = handingLog(store);
  const notices = new Notices();
  const { seen, follow, level } = await started(t, handing.events, notices);
  follow();
  // Another writer's commit, announced by a notice: the reader reads it, and its read is held in flight.
  handing.mute('keep');
  await store.insert(newJob('other'));
  const release = handing.hold();
  notices.send(1);
  // Meanwhile this instance commits: the handed events start where the followers still stand (0).
  await store.insert(newJob('own'));
  release();
  await level(2);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, ['1:other:pending', '2:own:pending'], 'each once, in order');
});
