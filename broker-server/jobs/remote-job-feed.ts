/**
 * Replays the job changes other instances commit (cluster/job-change-feed.ts) as this instance's `job`
 * events, so that every live page shows every change. A notice has no content: it is read from the
 * store once per job (a job's content never changes) and remembered for recent jobs. Notices are read
 * one batch at a time, so they are announced in commit order.
 */
import type { Part } from '../../config/lifecycle';
import type { Logger } from '../../config/logger';
import type { JobChange, JobChangeFeed } from '../cluster/job-change-feed';
import type { JobStore } from '../store/job-store';
import { toPrintJob } from '../store/job-rows';
import type { JobService, PrintJob } from './job-service';

/** Jobs whose content is remembered. */
const RECENT_JOBS = 10_000;

export class RemoteJobFeed implements Part {
  readonly name = 'remote job changes';
  private readonly log: Logger;
  private waiting: JobChange[] = [];
  private reading: Promise<void> | null = null;
  /** The content of recent jobs, this instance's and the others'. */
  private readonly contents = new Map<number, string>();

  constructor(
    private readonly feed: JobChangeFeed,
    private readonly store: JobStore,
    private readonly jobs: JobService,
    log: Logger,
  ) {
    this.log = log.child({ module: 'remote-jobs' });
  }

  async start(): Promise<void> {
    if (!this.feed.shared) return;
    this.jobs.on('job', (job: PrintJob) => this.remember(job.id, job.content));
    this.feed.onChanges((rows) => {
      this.waiting.push(...rows);
      this.read();
    });
    await this.feed.start();
  }

  /** Changes heard but not yet announced are dropped: the pages reload their state when they reconnect. */
  stop(): Promise<void> {
    return this.feed.stop();
  }

  private remember(id: number, content: string): void {
    if (this.contents.has(id)) return;
    this.contents.set(id, content);
    if (this.contents.size > RECENT_JOBS) this.contents.delete(this.contents.keys().next().value!);
  }

  private read(): void {
    if (this.reading) return;
    this.reading = this.announceWaiting()
      .catch((err: unknown) => this.log.warn({ err }, 'could not read the changes of other instances'))
      .finally(() => {
        this.reading = null;
        if (this.waiting.length) this.read();
      });
  }

  private async announceWaiting(): Promise<void> {
    while (this.waiting.length) {
      const batch = this.waiting;
      this.waiting = [];
      const unknown = [...new Set(batch.filter((row) => !this.contents.has(row.id)).map((row) => row.id))];
      const found = unknown.length ? await this.store.contents(unknown) : new Map<number, string>();
      for (const row of batch) {
        const content = this.contents.get(row.id) ?? found.get(row.id);
        if (content != null) this.jobs.announce(toPrintJob({ ...row, content }));
      }
    }
  }
}
