/** The stall watchdog's rules with an in-memory bus and store: no broker, no database, no timer waits. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { Dispatcher } from '../../../broker-server/jobs/dispatcher';
import { JobService } from '../../../broker-server/jobs/job-service';
import { SHOW_AFTER_TRIES, StallWatchdog } from '../../../broker-server/jobs/stall-watchdog';
import { ServerMetrics } from '../../../broker-server/metrics';
import { PrinterStatusList } from '../../../broker-server/printers/printer-status-list';
import { topics } from '../../../protocol/topics';
import { MemoryBus } from '../../support/memory-bus';
import { MemoryPrintStore } from '../../support/memory-print-store';

const STALL_MS = 1000;

async function setup(t: TestContext) {
  const store = new MemoryPrintStore();
  const bus = new MemoryBus();
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const jobs = new JobService(store, log);
  const printers = new PrinterStatusList(store, ['p1', 'p2'], log);
  const dispatcher = new Dispatcher(bus, jobs, printers, log);
  // Checked by hand (check()), not by its timer: stallAfterMs 0 starts none.
  const watchdog = new StallWatchdog(jobs, printers, dispatcher, log, { stallAfterMs: STALL_MS });
  await dispatcher.start();
  t.after(() => dispatcher.stop());
  const metrics = new ServerMetrics({
    jobs,
    printers,
    live: { clientCount: 0, jsonClientCount: 0, replaysWaiting: 0 },
    brokerClients: () => null,
    stalls: watchdog,
  });
  /** A job `sent` that last moved `agoMs` ago. */
  const sentJob = async (printerId: string, agoMs: number) => {
    const job = await store.insert({ printerId, content: 'oublié', kind: 'message', reprintOf: null });
    await store.transition({ id: job.id, to: 'sent', at: new Date() });
    store.jobs.get(job.id)!.updatedAt = new Date(Date.now() - agoMs).toISOString();
    return job;
  };
  return { store, bus, jobs, printers, dispatcher, watchdog, metrics, sentJob };
}

test('a job that has not moved for STALL_AFTER_S while its printer is online is published again, and counted', async (t) => {
  const { bus, printers, dispatcher, watchdog, metrics, sentJob, store } = await setup(t);
  await printers.recordStatus('p1', { state: 'online', printer: 'ok' });
  const stuck = await sentJob('p1', 5 * STALL_MS);
  const fresh = await sentJob('p1', 0);
  await sentJob('p2', 5 * STALL_MS); // p2 has never been online: nothing to publish to
  await watchdog.check();
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [stuck.id], 'only the job that has not moved');
  assert.deepEqual(bus.jobIds(topics.jobs('p2')), [], 'not while its printer is offline');
  assert.equal((await store.get(stuck.id))?.status, 'sent', 'a re-sent job keeps its status');
  assert.match(await metrics.text(), /printhop_jobs_stalled_total\{printer="p1"\} 1/);
  assert.match(await metrics.text(), /printhop_jobs_stalled\{printer="p1"\} 1/);
  void fresh;

  await watchdog.check();
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [stuck.id], 'the next try waits twice as long: not at once');
});

test('a job still stalled after several tries is shown with its printer, with the time and the agent’s reason; it clears once it moves', async (t) => {
  const { store, printers, dispatcher, watchdog, metrics, sentJob } = await setup(t);
  await printers.recordStatus('p1', {
    state: 'online',
    printer: 'ok',
    health: 'degraded',
    fault: {
      code: 'disk-full',
      detail: 'cannot write the journal: the disk is full (ENOSPC)',
      since: new Date().toISOString(),
    },
  });
  const stuck = await sentJob('p1', 5 * STALL_MS);
  const announced: Array<number | null> = [];
  printers.events.on('printer', (p) => p.id === 'p1' && announced.push(p.stalled?.count ?? null));
  for (let i = 0; i < SHOW_AFTER_TRIES; i++) {
    assert.equal((await printers.get('p1'))?.stalled, null, `not shown after ${i} tries`);
    // As if each wait had passed.
    await watchdog.check();
    await dispatcher.idle();
    for (const w of (watchdog as unknown as { watched: Map<number, { next: number }> }).watched.values()) w.next = 0;
  }
  const shown = (await printers.get('p1'))!;
  assert.deepEqual(shown.stalled, { count: 1, firstJobId: stuck.id, since: store.jobs.get(stuck.id)!.updatedAt });
  assert.equal(shown.fault?.code, 'disk-full', 'with the reason the agent gives');
  assert.match(await metrics.text(), /printhop_printer_degraded\{printer="p1",fault="disk-full"\} 1/);
  assert.deepEqual(announced, [1], 'the page heard of it');

  await store.transition({ id: stuck.id, to: 'received', at: new Date() });
  await watchdog.check();
  assert.equal((await printers.get('p1'))?.stalled, null, 'moved: no longer shown');
  assert.deepEqual(announced, [1, null]);
});

test('jobs a printer’s re-publication just sent are left alone for one period', async (t) => {
  const { bus, printers, dispatcher, watchdog, sentJob } = await setup(t);
  const job = await sentJob('p1', 5 * STALL_MS);
  await printers.recordStatus('p1', { state: 'online', printer: 'ok' });
  await dispatcher.republishFor('p1');
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [job.id], 'sent by the re-publication');
  await watchdog.check();
  await dispatcher.idle();
  assert.deepEqual(bus.jobIds(topics.jobs('p1')), [job.id], 'not a second time by the watchdog at once');
});
