/**
 * Keeps the database from growing without bound: finished jobs older than JOB_RETENTION_DAYS are
 * deleted at start-up and then every hour. Unfinished jobs are never deleted, whatever their age. The
 * event log (GET /jobs/events' replay, webhooks) keeps EVENT_REPLAY_HOURS of changes, pruned on the
 * same pass.
 */
import type { Logger } from '../../runtime/logger';
import type { JobService } from './job-service';

const EVERY_MS = 60 * 60 * 1000;

export class JobRetention {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(
    private readonly jobs: JobService,
    /** JOB_RETENTION_DAYS in ms; 0: kept forever. */
    private readonly retentionMs: number,
    log: Logger,
    /** EVENT_REPLAY_HOURS in ms. */
    private readonly eventMs = 24 * 3_600_000,
  ) {
    this.log = log.child({ module: 'retention' });
  }

  start(): void {
    void this.pruneNow();
    this.timer = setInterval(() => void this.pruneNow(), EVERY_MS);
    this.timer.unref();
  }

  /** One pass; a failure is logged and the next pass tries again. */
  pruneNow(): Promise<void> {
    this.running ??= (async () => {
      if (this.retentionMs > 0)
        await this.jobs
          .prune(new Date(Date.now() - this.retentionMs))
          .catch((err: unknown) => this.log.error({ err }, 'pruning finished jobs failed'));
      await this.jobs
        .pruneEvents(new Date(Date.now() - this.eventMs))
        .catch((err: unknown) => this.log.error({ err }, 'pruning the job event log failed'));
    })().finally(() => {
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
