/**
 * The jobs' state rules: routes and the dispatcher create and move jobs through here (and read them through
 * `queries`, jobs/job-queries.ts), and every
 * status change goes through `transition`, which enforces DESIGN.md's state machine (the store applies it
 * in its UPDATE, so two racing acks cannot both win). Who follows the changes reads them from the event
 * log (jobs/job-change-log.ts), not from here.
 */
import type { Logger } from '../../runtime/logger';
import { EventBus, type EventChannel } from '../event-bus';
import type { AckMessage, JobKind } from '../../protocol/messages';
import { type JobStatus, REPRINTABLE_STATUSES } from '../../protocol/states';
import type { PrintStore } from '../store/print-store';
import type { PrintJob } from './model/print-job';
import { JobError } from './job-errors';
import { JobQueries } from './job-queries';

export type { JobEvent, PrintJob } from './model/print-job';

export type TransitionResult =
  | { changed: true; job: PrintJob }
  | {
      changed: false;
      job: PrintJob | null;
      /** `other-uid`: this number is another job here (the ack is from another database, or from before a restore). */
      reason: 'unknown-job' | 'wrong-printer' | 'other-uid' | 'not-allowed';
    };

export type JobServiceEvents = {
  /** A change this instance committed (not one heard from another instance): for metrics. */
  'job-stored': [PrintJob];
  /** An agent's ack, applied or ignored. */
  ack: [{ printerId: string; applied: boolean }];
};

export class JobService {
  private readonly log: Logger;

  constructor(
    private readonly store: PrintStore,
    log: Logger,
    /** Where it says a job was stored and an ack came in (the server's one bus; its own when absent). */
    readonly events: EventChannel<JobServiceEvents> = new EventBus<JobServiceEvents>(),
  ) {
    this.log = log.child({ module: 'jobs' });
    this.queries = new JobQueries(store);
  }

  /** Every read of jobs and of the event log: one interface, for the routes, streams, dispatcher and metrics. */
  readonly queries: JobQueries;

  /** Writes waiting for their commit. */
  get writeBacklog(): number {
    return this.store.backlog;
  }

  async create(input: {
    printerId: string;
    content: string;
    kind?: JobKind;
    reprintOf?: number;
    createdBy?: string;
  }): Promise<PrintJob> {
    const job = await this.store.insert({
      printerId: input.printerId,
      content: input.content,
      kind: input.kind ?? 'message',
      reprintOf: input.reprintOf ?? null,
      createdBy: input.createdBy ?? null,
    });
    this.log.info(
      {
        jobId: job.id,
        printerId: job.printerId,
        reprintOf: job.reprintOf ?? undefined,
        createdBy: job.createdBy ?? undefined,
      },
      'job stored',
    );
    this.events.emit('job-stored', job);
    return job;
  }

  /** A new job with the same content, for a job a person wants on paper again. */
  async reprint(id: number, createdBy?: string): Promise<PrintJob> {
    const original = await this.store.get(id);
    if (!original) throw new JobError('job-not-found', `job ${id} does not exist`);
    if (!REPRINTABLE_STATUSES.has(original.status)) {
      throw new JobError(
        'not-reprintable',
        `job ${id} is ${original.status}; only printed, failed or interrupted jobs can be printed again`,
      );
    }
    return this.create({
      printerId: original.printerId,
      content: original.content,
      kind: original.kind,
      reprintOf: original.id,
      createdBy,
    });
  }

  /**
   * Ends every unfinished job of a printer `interrupted` with `reason`: after another agent took the
   * printer's session (broker/agent-sessions.ts), the first one may hold any of them, so none may go to the
   * second. Resolves once committed.
   */
  async interruptUnfinished(printerId: string, reason: string): Promise<number> {
    const unfinished = await this.store.unfinished(printerId);
    const results = await Promise.all(
      unfinished.map((job) => this.transition(job.id, 'interrupted', { printerId, error: reason })),
    );
    return results.filter((r) => r.changed).length;
  }

  /** Deletes finished jobs (printed, failed, interrupted) that finished before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const count = await this.store.prune(before);
    if (count) this.log.info({ count, before: before.toISOString() }, 'finished jobs pruned');
    return count;
  }

  /** Deletes events of the log older than `before` (the newest one always stays); returns how many. */
  async pruneEvents(before: Date): Promise<number> {
    const count = await this.store.pruneEvents(before);
    if (count) this.log.info({ count, before: before.toISOString() }, 'job events pruned');
    return count;
  }

  async transition(
    id: number,
    to: JobStatus,
    opts: { printerId?: string; uid?: string; error?: string | null; at?: Date; deferrable?: boolean } = {},
  ): Promise<TransitionResult> {
    const at = opts.at && !Number.isNaN(opts.at.getTime()) ? opts.at : new Date();
    const moved = await this.store.transition({
      id,
      to,
      printerId: opts.printerId,
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      error: opts.error ?? null,
      at,
      ...(opts.deferrable ? { deferrable: true } : {}),
    });
    if (moved) {
      this.log.info(
        { jobId: id, printerId: moved.printerId, status: to, error: moved.error ?? undefined },
        'job status changed',
      );
      this.events.emit('job-stored', moved);
      return { changed: true, job: moved };
    }
    const job = await this.store.get(id);
    if (!job) return { changed: false, job: null, reason: 'unknown-job' };
    if (opts.printerId && job.printerId !== opts.printerId) return { changed: false, job, reason: 'wrong-printer' };
    if (opts.uid !== undefined && job.uid !== opts.uid) return { changed: false, job, reason: 'other-uid' };
    return { changed: false, job, reason: 'not-allowed' };
  }

  /**
   * Applies an agent's ack; acks are idempotent, and foreign or unknown ones change nothing. The ack names
   * its job by uid as well as by number: a number this database also uses for another job (a replaced or
   * restored database) is not that job. The dispatcher refuses acks without a uid before they get here.
   */
  async applyAck(
    printerId: string,
    ack: AckMessage & { uid: string },
    /** Every ack may wait for other writes (a backlog's catch-up: its acks share commits), not only `received`. */
    opts: { deferrable?: boolean } = {},
  ): Promise<TransitionResult> {
    const result = await this.transition(ack.id, ack.status, {
      printerId,
      uid: ack.uid,
      error: ack.error ?? null,
      at: new Date(ack.at),
      // `received` answers nobody: it rides with the next commit (the job's `printed`, usually), as the
      // `sent` mark does (DESIGN.md "Exactly once"); a final ack commits at once.
      ...(ack.status === 'received' || opts.deferrable ? { deferrable: true } : {}),
    });
    this.events.emit('ack', { printerId, applied: result.changed });
    if (!result.changed) {
      const level = result.reason === 'not-allowed' ? 'debug' : 'warn';
      this.log[level](
        { jobId: ack.id, uid: ack.uid, printerId, ack: ack.status, current: result.job?.status, reason: result.reason },
        result.reason === 'other-uid' || result.reason === 'unknown-job'
          ? 'ack ignored: this database has no job with that uid (an ack meant for a replaced or restored database)'
          : 'ack ignored',
      );
    }
    return result;
  }
}
