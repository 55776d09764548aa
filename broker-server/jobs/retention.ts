/**
 * Keeps the database from growing without bound: finished jobs older than JOB_RETENTION_DAYS are
 * deleted at start-up and then every hour. Unfinished jobs are never deleted, whatever their age.
 */
import type { Logger } from '../../config/logger';
import type { JobService } from './job-service';

const DAY_MS = 24 * 60 * 60 * 1000;
const EVERY_MS = 60 * 60 * 1000;

export class JobRetention {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(
    private readonly jobs: JobService,
    private readonly retentionDays: number,
    log: Logger,
  ) {
    this.log = log.child({ module: 'retention' });
  }

  start(): void {
    if (this.retentionDays <= 0) return;
    void this.pruneNow();
    this.timer = setInterval(() => void this.pruneNow(), EVERY_MS);
    this.timer.unref();
  }

  /** One pass; a failure is logged and the next pass tries again. */
  pruneNow(): Promise<void> {
    this.running ??= this.jobs
      .prune(new Date(Date.now() - this.retentionDays * DAY_MS))
      .then(
        () => undefined,
        (err: unknown) => this.log.error({ err }, 'pruning finished jobs failed'),
      )
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
