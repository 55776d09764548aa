/** The dispatcher's rules with an in-memory bus and store: no broker, no database, no socket. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import type { PrinterClaims } from '../../../broker-server/cluster/printer-claims';
import {
  BACKLOG_WINDOW,
  Dispatcher,
  type DispatcherOptions,
  OLD_AGENT_DETAIL,
} from '../../../broker-server/jobs/dispatcher';
import { JobIntake } from '../../../broker-server/jobs/job-intake';
import { JobService } from '../../../broker-server/jobs/job-service';
import { PrinterStatusList } from '../../../broker-server/printers/printer-status-list';
import { JOB_PROTOCOL } from '../../../protocol/messages';
import { topics } from '../../../protocol/topics';
import { uidOf } from '../../support/job-uids';
import { MemoryBus } from '../../support/memory-bus';
import { followChanges } from '../../support/change-log';
import { MemoryPrintStore } from '../../support/memory-print-store';

type Setup = Awaited<ReturnType<typeof setup>>;

async function setup(t: TestContext, options: DispatcherOptions & { log?: pino.Logger } = {}) {
  const store = new MemoryPrintStore();
  const bus = new MemoryBus();
  const log = options.log ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const jobs = new JobService(store, log);
  const printers = new PrinterStatusList(store, ['p1', 'p2'], log);
  const dispatcher = new Dispatcher(bus, jobs, printers, log, options);
  await dispatcher.start();
  t.after(() => dispatcher.stop());
  return {
    store,
    bus,
    jobs,
    printers,
    dispatcher,
    intake: new JobIntake(jobs, dispatcher, printers, {
      defaultPrinterId: 'p1',
      paperColumns: 48,
      receiptMaxLines: 200,
    }),
  };
}

const online = { state: 'online', printer: 'ok', protocol: JOB_PROTOCOL };
const ack = (job: { id: number; uid: string }, status: string, extra: Record<string, unknown> = {}) => ({
  id: job.id,
  uid: job.uid,
  status,
  at: new Date().toISOString(),
  ...extra,
});

test('a job is published (QoS 1) only once committed, then marked sent', async (t) => {
  const { store, bus, dispatcher, intake } = await setup(t);
  const release = store.holdCommits();
  const accepting = intake.print('p1', 'bonjour');
  await new Promise((r) => setImmediate(r));
  assert.equal(bus.published.length, 0, 'nothing published before the commit');
  release();
  const job = await accepting;
  await dispatcher.idle();
  assert.deepEqual(
    bus.published.map((p) => [p.topic, p.qos]),
    [[topics.jobs('p1'), 1]],
  );
  assert.deepEqual(JSON.parse(bus.published[0]!.payload), {
    id: job.id,
    uid: job.uid,
    content: 'bonjour',
    createdAt: job.createdAt,
  });
  assert.equal((await store.get(job.id))?.status, 'sent');
});

test('a publication that fails leaves the job pending; the printer coming online re-publishes its unfinished jobs in order', async (t) => {
  const { store, bus, dispatcher, intake, printers } = await setup(t);
  bus.failing = true;
  const jobs = [await intake.print('p1', 'a'), await intake.print('p1', 'b'), await intake.testPrint('p2')];
  await dispatcher.idle();
  assert.deepEqual(
    (await store.unfinished()).map((j) => j.status),
    ['pending', 'pending', 'pending'],
  );
  bus.failing = false;
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [jobs[0]!.id, jobs[1]!.id]);
  assert.deepEqual(bus.jobIds(topics.jobs('p2')), [], 'only the printer that came online');
  assert.equal((await printers.get('p1'))?.state, 'online');
  assert.equal((await store.get(jobs[0]!.id))?.status, 'sent');
});

test("re-publication only by the instance holding the printer's claim", async (t) => {
  const asked: string[] = [];
  const claims: PrinterClaims = {
    start: async () => {},
    stop: async () => {},
    claim: async (id) => (asked.push(id), id === 'p2'),
  };
  const { store, bus, dispatcher } = await setup(t, { claims });
  await store.insert({ printerId: 'p1', content: 'a', kind: 'message', reprintOf: null });
  await store.insert({ printerId: 'p2', content: 'b', kind: 'message', reprintOf: null });
  await bus.deliver(topics.status('p1'), online);
  await bus.deliver(topics.status('p2'), online);
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [], 'another instance holds p1');
  assert.equal(bus.jobIds(topics.jobs('p2')).length, 1);
  assert.ok(asked.includes('p1') && asked.includes('p2'));
});

test('acks: applied once, idempotent; foreign, unknown and malformed ones change nothing', async (t) => {
  const { store, bus, dispatcher, intake } = await setup(t);
  const job = await intake.print('p1', 'x');
  await dispatcher.idle();
  const changes = await followChanges(t, store);
  await bus.deliver(topics.acks('p2'), ack(job, 'printed'));
  await bus.deliver(topics.acks('p1'), ack({ id: 999, uid: job.uid }, 'printed'));
  await bus.deliver(topics.acks('p1'), '{"id": "not a number"}');
  await bus.deliver(topics.acks('p1'), 'not json');
  // Its number, another job's uid: an ack meant for another database (a replaced one, or before a restore).
  await bus.deliver(topics.acks('p1'), ack({ id: job.id, uid: uidOf(job.id, 7) }, 'printed'));
  // No uid at all: an agent of job protocol 1, refused (it knows jobs by number only).
  await bus.deliver(topics.acks('p1'), { id: job.id, status: 'printed', at: new Date().toISOString() });
  await dispatcher.idle();
  assert.equal((await store.get(job.id))?.status, 'sent', 'nothing applied');
  await bus.deliver(topics.acks('p1'), ack(job, 'received'));
  await bus.deliver(topics.acks('p1'), ack(job, 'received'));
  await bus.deliver(topics.acks('p1'), ack(job, 'printed'));
  await bus.deliver(topics.acks('p1'), ack(job, 'printed'));
  await bus.deliver(topics.acks('p1'), ack(job, 'failed', { error: 'late' }));
  await dispatcher.idle();
  const final = (await store.get(job.id))!;
  assert.deepEqual([final.status, final.error], ['printed', null]);
  await changes.settled();
  const events = changes.seen.filter((j) => j.id === job.id).map((j) => j.status);
  assert.deepEqual(events, ['received', 'printed']);
});

test('an agent of job protocol 1 (no job uids) gets no job: they wait, the printer says to upgrade the agent, the log says so', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) });
  const { store, bus, dispatcher, intake, printers } = await setup(t, { log: pino(sink) });
  await bus.deliver(topics.status('p1'), { state: 'online', printer: 'ok', version: '0.1.0' });
  const held = await intake.print('p1', 'kept for a newer agent');
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [], 'nothing published to an agent that de-duplicates by number');
  assert.equal((await store.get(held.id))?.status, 'pending');
  assert.equal((await printers.get('p1'))?.detail, OLD_AGENT_DETAIL);
  assert.ok(lines.some((l) => /upgrade the agent/.test(l) && /"printerId":"p1"/.test(l)));
  // The agent is upgraded: it says so, and gets its jobs.
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [held.id]);
  assert.equal((await store.get(held.id))?.status, 'sent');
});

/** `count` jobs for p1 made while nothing could be published (its agent away): a backlog, all pending. */
async function backlog(s: Pick<Setup, 'bus' | 'dispatcher' | 'intake'>, count: number) {
  s.bus.failing = true;
  const jobs = [];
  for (let i = 0; i < count; i++) jobs.push(await s.intake.print('p1', `job ${i}`));
  await s.dispatcher.idle();
  s.bus.failing = false;
  return jobs;
}

/** A backlog of `count` jobs for p1, then p1's agent says `online`. */
async function backlogThenOnline(s: Pick<Setup, 'bus' | 'dispatcher' | 'intake'>, count: number) {
  const jobs = await backlog(s, count);
  await s.bus.deliver(topics.status('p1'), online);
  return jobs;
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** p1's agent answers each of `jobs`, in order: `received`, then `printed`. */
async function answerAll(bus: Setup['bus'], jobs: Array<{ id: number; uid: string }>): Promise<void> {
  for (const job of jobs) {
    await bus.deliver(topics.acks('p1'), ack(job, 'received'));
    await bus.deliver(topics.acks('p1'), ack(job, 'printed'));
  }
}

/** Waits (with a deadline) until `check` holds: the dispatcher publishes in the background. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Settles what the dispatcher does in reaction to the last message (none of it waits on a timer). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

test('a backlog is re-published in windows: at most the window unanswered, the next job on each ack, in order, each once', async (t) => {
  const s = await setup(t, { backlogWindow: 3 });
  const { store, bus, dispatcher } = s;
  const jobs = await backlogThenOnline(s, 10); // the printer's agent is away: the jobs stay pending
  const sent = () => bus.jobIds(topics.jobs('p1'));
  await until(() => sent().length === 3, 'the first window');
  await settle();
  assert.deepEqual(
    sent(),
    jobs.slice(0, 3).map((j) => j.id),
    'no more than the window before any answer',
  );
  // The agent answers out of step (its second job first, a `printed` without a `received`): each answer frees a place.
  await bus.deliver(topics.acks('p1'), ack(jobs[1]!, 'received'));
  await until(() => sent().length === 4, 'the next job after an answer');
  await settle();
  assert.equal(sent().length, 4, 'one answer, one more job');
  await answerAll(bus, jobs);
  await dispatcher.idle();
  assert.deepEqual(
    sent(),
    jobs.map((j) => j.id),
    'all of them, in order, each once',
  );
  assert.deepEqual(
    (await store.unfinished('p1')).map((j) => j.id),
    [],
    'all printed',
  );
});

test('a backlog is read a page at a time, the next page only as answers free the window; a job made meanwhile goes once', async (t) => {
  const s = await setup(t, { backlogWindow: 3, backlogPage: 4 });
  const { store, bus, dispatcher, intake } = s;
  const jobs = await backlog(s, 10);
  const reads: Array<[number | undefined, number | undefined]> = [];
  const unfinished = store.unfinished.bind(store);
  store.unfinished = (printerId, afterId, limit) => {
    reads.push([afterId, limit]);
    return unfinished(printerId, afterId, limit);
  };
  await bus.deliver(topics.status('p1'), online);
  const sent = () => bus.jobIds(topics.jobs('p1'));
  await until(() => sent().length === 3, 'the first window');
  await settle();
  assert.deepEqual(reads, [[0, 4]], 'one page read for the first window, not the whole backlog');
  // A new job while the pass runs: published by its own request, and not a second time by the pass.
  const fresh = await intake.print('p1', 'made during the pass');
  await answerAll(bus, [...jobs, fresh]);
  await dispatcher.idle();
  assert.deepEqual(
    sent().filter((id) => id !== fresh.id),
    jobs.map((j) => j.id),
    'the backlog in order, each once',
  );
  assert.equal(sent().filter((id) => id === fresh.id).length, 1, 'the new job once');
  assert.ok(
    reads.every(([, limit]) => limit === 4),
    'every read is a page',
  );
  assert.deepEqual(
    reads.map(([after]) => after),
    [0, jobs[3]!.id, jobs[7]!.id],
    'each page after the last job of the one before',
  );
});

test('an agent that reconnects while its window is full gets its backlog again from the first unacknowledged job', async (t) => {
  const s = await setup(t, { backlogWindow: 3 });
  const { bus, dispatcher } = s;
  const jobs = await backlogThenOnline(s, 8);
  const sent = () => bus.jobIds(topics.jobs('p1'));
  await until(() => sent().length === 3, 'the first window');
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'received'));
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'printed'));
  await until(() => sent().length === 4, 'the job after the first answer');
  // Jobs 1–3 in flight; the connection drops and the agent comes back (a new connection, its `online` again).
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  await until(() => sent().length === 7, 'the window sent again');
  await settle();
  assert.deepEqual(
    sent().slice(4),
    jobs.slice(1, 4).map((j) => j.id),
    'from the first job without an answer, a window of it',
  );
  await answerAll(bus, jobs.slice(1));
  await dispatcher.idle();
  const after = sent().slice(7);
  assert.deepEqual(
    after,
    jobs.slice(4).map((j) => j.id),
    'then the rest, in order, each once more at most',
  );
});

test('the agent saying `online` again on the connection the pass sends to (its status after jobs) does not send the backlog again', async (t) => {
  const s = await setup(t, { backlogWindow: 3 });
  const { bus, dispatcher } = s;
  const jobs = await backlog(s, 8);
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  const sent = () => bus.jobIds(topics.jobs('p1'));
  await until(() => sent().length === 3, 'the first window');
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'received'));
  await until(() => sent().length === 4, 'the job after the first answer');
  // The agent holds job 1 (received, not printed) and jobs 2–4 are in flight; it reports its status.
  await bus.deliver(topics.status('p1'), {
    ...online,
    lastJob: { id: jobs[0]!.id, at: new Date().toISOString(), ms: 5 },
  });
  await settle();
  assert.deepEqual(
    sent(),
    jobs.slice(0, 4).map((j) => j.id),
    'nothing sent again',
  );
  await answerAll(bus, jobs);
  await dispatcher.idle();
  assert.deepEqual(
    sent(),
    jobs.map((j) => j.id),
    'each job once, in order',
  );
});

test("once a pass has handed the whole backlog to the agent's connection, `online` again on it sends nothing again; a new connection or an offline in between does", async (t) => {
  const s = await setup(t);
  const { bus, dispatcher } = s;
  const jobs = await backlog(s, 5);
  const sent = () => bus.jobIds(topics.jobs('p1'));
  const ids = jobs.map((j) => j.id);
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(sent(), ids, 'the backlog, once');
  // The agent holds them (received, none printed yet) and reports its status after a job, twice.
  for (const job of jobs) await bus.deliver(topics.acks('p1'), ack(job, 'received'));
  await bus.deliver(topics.status('p1'), online);
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(sent(), ids, 'nothing again on the same connection');
  // It reconnects: what it had in flight may be lost, so every unfinished job goes again, in order.
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(sent(), [...ids, ...ids], 'again on a new connection');
  // Its offline, then online again (the same number: no new connection seen): again, as after any offline.
  await bus.deliver(topics.status('p1'), { state: 'offline' });
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(sent(), [...ids, ...ids, ...ids], 'again after an offline');
});

test("a job whose publication failed goes again with the agent's next `online`, even on the connection a pass completed for", async (t) => {
  const s = await setup(t);
  const { bus, dispatcher, intake } = s;
  const jobs = await backlog(s, 2);
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  bus.failing = true;
  const lost = await intake.print('p1', 'published while the broker refused');
  await dispatcher.idle();
  bus.failing = false;
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.deepEqual(
    bus.jobIds(topics.jobs('p1')),
    [...jobs.map((j) => j.id), ...jobs.map((j) => j.id), lost.id],
    'the unfinished jobs again, the refused one among them',
  );
});

/** Records whether the dispatcher asked each ack of `jobs` to be deferrable (to share a later commit). */
function deferrals(jobs: JobService): Array<[number, string, boolean]> {
  const seen: Array<[number, string, boolean]> = [];
  const apply = jobs.applyAck.bind(jobs);
  jobs.applyAck = (printerId, ack, opts = {}) => {
    seen.push([ack.id, ack.status, opts.deferrable === true]);
    return apply(printerId, ack, opts);
  };
  return seen;
}

test("after a pass has handed its backlog over, the backlog's acks stay deferrable until its last job's final ack; later ones commit at once", async (t) => {
  const s = await setup(t);
  const { bus, dispatcher, intake } = s;
  const jobs = await backlog(s, 3);
  const seen = deferrals(s.jobs);
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.equal(bus.jobIds(topics.jobs('p1')).length, 3, 'the pass is over: all handed to the broker');
  await answerAll(bus, jobs);
  const later = await intake.print('p1', 'after the backlog');
  await bus.deliver(topics.acks('p1'), ack(later, 'printed'));
  await dispatcher.idle();
  assert.deepEqual(seen, [
    ...jobs.flatMap((j) => [
      [j.id, 'received', true],
      [j.id, 'printed', true],
    ]),
    [later.id, 'printed', false],
  ]);
});

test("a backlog's tail with no final ack for the stall time ends: the printer's acks commit at once again", async (t) => {
  const s = await setup(t, { backlogStallMs: 50 });
  const { bus, dispatcher } = s;
  const jobs = await backlog(s, 2);
  const seen = deferrals(s.jobs);
  bus.connect('p1');
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'printed'));
  await new Promise((resolve) => setTimeout(resolve, 120));
  await bus.deliver(topics.acks('p1'), ack(jobs[1]!, 'printed'));
  await dispatcher.idle();
  assert.deepEqual(seen, [
    [jobs[0]!.id, 'printed', true],
    [jobs[1]!.id, 'printed', false],
  ]);
});

test('a broker that cannot tell connections apart: every `online` of the agent ends the pass, as a reconnection', async (t) => {
  const s = await setup(t, { backlogWindow: 3 });
  const { bus } = s;
  const jobs = await backlogThenOnline(s, 8);
  const sent = () => bus.jobIds(topics.jobs('p1'));
  await until(() => sent().length === 3, 'the first window');
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'received'));
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'printed'));
  await until(() => sent().length === 4, 'the job after the first answer');
  await bus.deliver(topics.status('p1'), online);
  await until(() => sent().length === 7, 'the window sent again');
  await settle();
  assert.deepEqual(
    sent().slice(4),
    jobs.slice(1, 4).map((j) => j.id),
    'from the first job without an answer',
  );
});

test("an agent that goes away (its will: offline) stops its backlog's pass at once: no later job goes before one it may have lost", async (t) => {
  const s = await setup(t, { backlogWindow: 3 });
  const { bus, dispatcher } = s;
  const jobs = await backlogThenOnline(s, 8);
  const sent = () => bus.jobIds(topics.jobs('p1'));
  await until(() => sent().length === 3, 'the first window');
  await bus.deliver(topics.acks('p1'), ack(jobs[0]!, 'received'));
  await until(() => sent().length === 4, 'the job after the first answer');
  await bus.deliver(topics.status('p1'), { state: 'offline' });
  // An answer the old connection sent before it dropped, heard after the will: it frees no place any more.
  await bus.deliver(topics.acks('p1'), ack(jobs[1]!, 'received'));
  await dispatcher.idle();
  assert.equal(sent().length, 4, 'nothing more while the agent is away');
  await bus.deliver(topics.status('p1'), online);
  await until(() => sent().length === 7, 'a window from the first unfinished job');
  await settle();
  assert.deepEqual(
    sent().slice(4),
    jobs.slice(0, 3).map((j) => j.id),
    'again from the first unfinished job (the first, received but not printed), in order',
  );
});

test('a full window whose agent never answers ends its pass after the stall time; the next online starts another', async (t) => {
  const s = await setup(t, { backlogWindow: 2, backlogStallMs: 50 });
  const { bus, dispatcher } = s;
  await backlogThenOnline(s, 5);
  await dispatcher.idle();
  assert.equal(bus.jobIds(topics.jobs('p1')).length, 2, 'the rest is left for the watchdog and the next online');
  await bus.deliver(topics.status('p1'), online);
  await until(() => bus.jobIds(topics.jobs('p1')).length === 4, 'the next pass');
});

test('stop() ends a full window at once rather than after its stall time', async (t) => {
  const s = await setup(t, { backlogWindow: 2, backlogStallMs: 600_000 });
  const { bus, dispatcher } = s;
  await backlogThenOnline(s, 5);
  await until(() => bus.jobIds(topics.jobs('p1')).length === 2, 'the first window');
  assert.ok(await settlesWithin(dispatcher.stop(), 10_000), 'stopped at once, not after the stall time');
});

test('start-up does not wait for a backlog: start() resolves while the first window waits for an agent that does not answer', async (t) => {
  const store = new MemoryPrintStore();
  const log = pino({ level: 'silent' });
  const jobs = new JobService(store, log);
  for (let i = 0; i < 5; i++) await jobs.create({ printerId: 'p1', content: `left from before ${i}` });
  const bus = new MemoryBus();
  const dispatcher = new Dispatcher(bus, jobs, new PrinterStatusList(store, ['p1'], log), log, {
    backlogWindow: 2,
    backlogStallMs: 600_000,
  });
  t.after(() => dispatcher.stop());
  assert.ok(await settlesWithin(dispatcher.start(), 10_000), 'started without waiting for the agent');
  await until(() => bus.jobIds(topics.jobs('p1')).length === 2, 'the first window of the backlog');
  assert.equal(bus.jobIds(topics.jobs('p1')).length, 2, 'no more than the window while nobody answers');
});

test('with several instances (a shared ack subscription: each sees only some acks) the backlog goes unwindowed', async (t) => {
  const claims: PrinterClaims = { start: async () => {}, stop: async () => {}, claim: async () => true };
  const { bus, dispatcher, intake } = await setup(t, { claims });
  bus.failing = true;
  const count = BACKLOG_WINDOW + 10;
  for (let i = 0; i < count; i++) await intake.print('p1', `job ${i}`);
  await dispatcher.idle();
  bus.failing = false;
  await bus.deliver(topics.status('p1'), online);
  await dispatcher.idle();
  assert.equal(bus.jobIds(topics.jobs('p1')).length, count, 'all of it, with no answer');
});
