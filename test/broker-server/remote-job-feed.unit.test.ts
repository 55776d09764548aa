/** Other instances' job changes replayed as this instance's events: in commit order, with their content, never backwards. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { JobChange, JobChangeFeed } from '../../broker-server/cluster/job-change-feed';
import { JobService, type PrintJob } from '../../broker-server/jobs/job-service';
import { RemoteJobFeed } from '../../broker-server/jobs/remote-job-feed';
import { MemoryJobStore } from '../support/memory-job-store';

class FakeFeed implements JobChangeFeed {
  readonly shared = true;
  private handler: ((rows: JobChange[]) => void) | null = null;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  onChanges(handler: (rows: JobChange[]) => void): void {
    this.handler = handler;
  }
  send(rows: JobChange[]): void {
    this.handler?.(rows);
  }
}

const change = (job: PrintJob, status: PrintJob['status']): JobChange => ({
  id: job.id,
  uid: job.uid,
  printer_id: job.printerId,
  kind: job.kind,
  status,
  error: null,
  reprint_of: null,
  created_at: job.createdAt,
  updated_at: new Date().toISOString(),
  sent_at: null,
  received_at: null,
  printed_at: null,
  finished_at: null,
});

test('changes from other instances are announced in order, with their content read once, never backwards', async () => {
  const store = new MemoryJobStore();
  const log = pino({ level: 'silent' });
  const jobs = new JobService(store, log);
  const feed = new FakeFeed();
  const remote = new RemoteJobFeed(feed, store, jobs, log);
  await remote.start();
  // Written by another instance: in the shared database, unknown to this one.
  const a = await store.insert({ printerId: 'p1', content: 'de là-bas', kind: 'message', reprintOf: null });
  const b = await store.insert({ printerId: 'p1', content: 'aussi', kind: 'message', reprintOf: null });
  let reads = 0;
  const contents = store.contents.bind(store);
  store.contents = (ids) => (reads++, contents(ids));
  const seen: string[] = [];
  const announced = new Promise<void>((resolve) =>
    jobs.on('job', (j) => seen.push(`${j.id}:${j.status}:${j.content}`) === 5 && resolve()),
  );
  feed.send([change(a, 'pending'), change(b, 'pending')]);
  feed.send([change(a, 'sent'), change(a, 'printed')]);
  feed.send([change(a, 'received'), change(b, 'sent')]);
  await announced;
  assert.deepEqual(seen, [
    `${a.id}:pending:de là-bas`,
    `${b.id}:pending:aussi`,
    `${a.id}:sent:de là-bas`,
    `${a.id}:printed:de là-bas`,
    `${b.id}:sent:aussi`,
  ]);
  assert.equal(reads, 1, 'the content of a job is read once');
});
