/** The server's one event bus (event-bus.ts): the job service and the printers' status list emit on the same bus. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { ServerEvents } from '../../broker-server/areas/context';
import { EventBus } from '../../broker-server/event-bus';
import { JobService } from '../../broker-server/jobs/job-service';
import { PrinterStatusList } from '../../broker-server/printers/printer-status-list';
import { MemoryPrintStore } from '../support/memory-print-store';

test('one bus hears stored jobs, acks and printer changes; a listener that stops hears no more', async () => {
  const log = pino({ level: 'silent' });
  const store = new MemoryPrintStore();
  const events = new EventBus<ServerEvents>();
  const jobs = new JobService(store, log, events);
  const printers = new PrinterStatusList(store, ['p1'], log, events);
  const heard: string[] = [];
  events.on('job-stored', (job) => heard.push(`job ${job.id} ${job.status}`));
  events.on('ack', ({ applied }) => heard.push(`ack ${applied}`));
  const stopPrinters = events.on('printer', (p) => heard.push(`printer ${p.id}`));

  const job = await jobs.create({ printerId: 'p1', content: 'hello' });
  await jobs.applyAck('p1', { id: job.id, uid: job.uid, status: 'received', at: new Date().toISOString() });
  await jobs.applyAck('p1', { id: job.id, uid: 'another', status: 'printed', at: new Date().toISOString() });
  await printers.announce('p1');
  stopPrinters();
  await printers.announce('p1');

  assert.deepEqual(heard, [`job ${job.id} pending`, `job ${job.id} received`, 'ack true', 'ack false', 'printer p1']);
});
