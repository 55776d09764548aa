/** The dispatcher's rules with an in-memory bus and store: no broker, no database, no socket. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import type { PrinterClaims } from '../../broker-server/cluster/printer-claims';
import { Dispatcher } from '../../broker-server/jobs/dispatcher';
import { JobIntake } from '../../broker-server/jobs/job-intake';
import { JobService } from '../../broker-server/jobs/job-service';
import { PrinterRegistry } from '../../broker-server/printers/printer-registry';
import { topics } from '../../protocol/topics';
import { MemoryBus } from '../support/memory-bus';
import { followChanges } from '../support/change-log';
import { MemoryJobStore } from '../support/memory-job-store';

async function setup(t: TestContext, options: { claims?: PrinterClaims; republishStaleMs?: number } = {}) {
  const store = new MemoryJobStore();
  const bus = new MemoryBus();
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const jobs = new JobService(store, log);
  const printers = new PrinterRegistry(store, ['p1', 'p2'], log);
  const dispatcher = new Dispatcher(bus, jobs, printers, log, options);
  await dispatcher.start();
  t.after(() => dispatcher.stop());
  return { store, bus, jobs, printers, dispatcher, intake: new JobIntake(jobs, dispatcher) };
}

const online = { state: 'online', printer: 'ok' };
const ack = (id: number, status: string, extra: Record<string, unknown> = {}) => ({
  id,
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
  assert.deepEqual(JSON.parse(bus.published[0]!.payload), { id: job.id, content: 'bonjour', createdAt: job.createdAt });
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

test('the sweep re-sends jobs of online printers that have not moved', async (t) => {
  const { store, bus, dispatcher, printers } = await setup(t, { republishStaleMs: 100 });
  await printers.recordStatus('p1', { state: 'online', printer: 'ok' });
  const job = await store.insert({ printerId: 'p1', content: 'oublié', kind: 'message', reprintOf: null });
  await store.transition({ id: job.id, to: 'sent', at: new Date() });
  store.jobs.get(job.id)!.updatedAt = new Date(Date.now() - 1000).toISOString();
  const deadline = Date.now() + 2000;
  while (!bus.jobIds(topics.jobs('p1')).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [job.id]);
  assert.equal((await store.get(job.id))?.status, 'sent', 'a re-sent job keeps its status');
});

test('acks: applied once, idempotent; foreign, unknown and malformed ones change nothing', async (t) => {
  const { store, bus, dispatcher, intake } = await setup(t);
  const job = await intake.print('p1', 'x');
  await dispatcher.idle();
  const changes = await followChanges(t, store);
  await bus.deliver(topics.acks('p2'), ack(job.id, 'printed'));
  await bus.deliver(topics.acks('p1'), ack(999, 'printed'));
  await bus.deliver(topics.acks('p1'), '{"id": "not a number"}');
  await bus.deliver(topics.acks('p1'), 'not json');
  await dispatcher.idle();
  assert.equal((await store.get(job.id))?.status, 'sent', 'nothing applied');
  await bus.deliver(topics.acks('p1'), ack(job.id, 'received'));
  await bus.deliver(topics.acks('p1'), ack(job.id, 'received'));
  await bus.deliver(topics.acks('p1'), ack(job.id, 'printed'));
  await bus.deliver(topics.acks('p1'), ack(job.id, 'printed'));
  await bus.deliver(topics.acks('p1'), ack(job.id, 'failed', { error: 'late' }));
  await dispatcher.idle();
  const final = (await store.get(job.id))!;
  assert.deepEqual([final.status, final.error], ['printed', null]);
  await changes.settled();
  const events = changes.seen.filter((j) => j.id === job.id).map((j) => j.status);
  assert.deepEqual(events, ['received', 'printed']);
});
