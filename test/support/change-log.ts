/**
 * Follows a job store's event log as the server does (broker-server/jobs/job-change-log.ts), for the
 * tests that check which changes reach the page and the streams: every change, in commit order.
 */
import type { TestContext } from 'node:test';
import pino from 'pino';
import { JobChangeLog } from '../../broker-server/jobs/job-change-log';
import type { PrintStore, PrintJob } from '../../broker-server/store/print-store';

export interface FollowedChanges {
  /** The jobs as each change left them, in the order the log gave them. */
  readonly seen: PrintJob[];
  /** Resolves once every change committed so far has been read (fails after `timeoutMs`). */
  settled(timeoutMs?: number): Promise<void>;
}

export async function followChanges(t: TestContext, store: PrintStore): Promise<FollowedChanges> {
  const changes = new JobChangeLog(store, pino({ level: 'silent' }));
  await changes.start();
  t.after(() => changes.stop());
  const seen: PrintJob[] = [];
  changes.follow((events) => {
    for (const event of events) if (event.job) seen.push(event.job);
  });
  return {
    seen,
    async settled(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      const { last } = await store.eventBounds();
      while (changes.position < last) {
        if (Date.now() > deadline) throw new Error(`the log's reader is at ${changes.position}, not ${last}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}
