/**
 * Hands jobs to the broker and applies what agents answer: publishes each job with QoS 1, applies
 * acks and printer status, and re-publishes a printer's unfinished jobs when it comes online and at
 * start-up (the database, not the broker, is the source of truth); jobs that do not move are the stall
 * watchdog's (stall-watchdog.ts). With several instances, a job is published by the instance that accepted
 * it, and each printer's re-publications are done by the one instance holding its claim (cluster/printer-claims.ts).
 */
import type { Logger } from '../../config/logger';
import {
  encodeMessage,
  JOB_PROTOCOL,
  type JobMessage,
  parseAckMessage,
  parseStatusMessage,
} from '../../protocol/messages';
import { parseTopic, topics } from '../../protocol/topics';
import type { MessageBus } from '../broker/message-bus';
import { type PrinterClaims, SoleInstanceClaims } from '../cluster/printer-claims';
import type { PrinterRegistry } from '../printers/printer-registry';
import type { JobService, PrintJob } from './job-service';

/** Writes waiting for a commit beyond which incoming acks wait for theirs. */
const ACK_BACKLOG_LIMIT = 2000;
/** A printer whose agent is too old is named in the log at most this often. */
const OLD_AGENT_LOG_EVERY_MS = 60_000;

/** What the page and GET /printers show for an agent of job protocol 1 (no job uids). */
export const OLD_AGENT_DETAIL =
  'this agent is older than the server (job protocol 1, no job uids): upgrade the agent; its jobs wait until then';

export class Dispatcher {
  readonly name = 'dispatcher';
  private readonly log: Logger;
  /** Re-publication runs one at a time per printer; a second request while one runs is merged into one rerun. */
  private readonly republishing = new Map<string, Promise<void>>();
  private readonly rerun = new Set<string>();
  /** Publications under way, so that stop() lets them finish before the database closes. */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** Told of the jobs a printer's re-publication sends (the stall watchdog leaves them alone for a while). */
  onRepublish: ((jobs: PrintJob[]) => void) | null = null;
  /**
   * Printers whose agent said, in its last `online` status, that it speaks job protocol 1: it would print
   * our jobs but de-duplicate them by number and answer without uid, so nothing is published to it.
   */
  private readonly oldAgents = new Set<string>();
  private readonly oldAgentLogged = new Map<string, number>();

  constructor(
    private readonly bus: MessageBus,
    private readonly jobs: JobService,
    private readonly printers: PrinterRegistry,
    log: Logger,
    private readonly options: { claims?: PrinterClaims } = {},
  ) {
    this.log = log.child({ module: 'dispatcher' });
  }

  private get claims(): PrinterClaims {
    return (this.options.claims ??= new SoleInstanceClaims());
  }

  async start(): Promise<void> {
    await this.bus.subscribe(
      topics.allAcks,
      (topic, payload) => (this.stopped ? Promise.resolve() : this.onAck(topic, payload)),
      { shared: true },
    );
    await this.bus.subscribe(topics.allStatus, (topic, payload) =>
      this.stopped ? Promise.resolve() : this.track(this.onStatus(topic, payload)),
    );
    const unfinished = await this.jobs.unfinished();
    const printers = [...new Set(unfinished.map((j) => j.printerId))];
    if (unfinished.length)
      this.log.info(
        { count: unfinished.length, printers: printers.length },
        're-publishing unfinished jobs at start-up',
      );
    await Promise.all(printers.map((printerId) => this.republishFor(printerId)));
  }

  /** Lets stop() wait for work that writes to the database. */
  private track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  /** Waits for the publications under way; later ones are left to the next start-up's re-publication. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Resolves once no publication, re-publication or ack is under way. */
  async idle(): Promise<void> {
    while (this.inFlight.size || this.republishing.size) {
      await Promise.allSettled([...this.inFlight, ...this.republishing.values()]);
    }
  }

  /** Publishes a stored job; a failure leaves it `pending`, to be re-published later. Never rejects. */
  publish(job: PrintJob): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.track(
      this.publishNow(job).catch((err: unknown) =>
        this.log.error({ err, jobId: job.id, printerId: job.printerId }, 'publication failed'),
      ),
    );
  }

  /** Publishes jobs in order; their `sent` marks are committed together afterwards. */
  private async publishAll(jobs: PrintJob[]): Promise<void> {
    const marks: Promise<void>[] = [];
    for (const job of jobs) {
      if (this.stopped) break;
      marks.push(this.publish(job));
    }
    await Promise.all(marks);
  }

  private async publishNow(job: PrintJob): Promise<void> {
    if (this.oldAgents.has(job.printerId)) {
      this.logOldAgent(job.printerId, 'job held');
      return;
    }
    const message: JobMessage = {
      id: job.id,
      uid: job.uid,
      content: job.content,
      createdAt: job.createdAt,
      ...(job.kind === 'test' ? { kind: 'test' as const } : {}),
    };
    try {
      await this.bus.publish(topics.jobs(job.printerId), encodeMessage(message), { qos: 1 });
    } catch (err) {
      this.log.error({ err, jobId: job.id, printerId: job.printerId }, 'publish failed; job stays pending');
      return;
    }
    this.log.debug({ jobId: job.id, printerId: job.printerId }, 'job published');
    // Deferrable: the mark rides with the next commit (the agent's `received` ack, usually) instead of one of its own.
    if (job.status === 'pending') await this.jobs.transition(job.id, 'sent', { deferrable: true });
  }

  /** Re-publishes the printer's unfinished jobs, if this instance holds (or can take) the printer's claim. */
  republishFor(printerId: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const running = this.republishing.get(printerId);
    if (running) {
      this.rerun.add(printerId);
      return running;
    }
    const run = (async () => {
      if (!(await this.claims.claim(printerId))) {
        this.log.debug({ printerId }, "another instance re-publishes this printer's jobs");
        return;
      }
      do {
        this.rerun.delete(printerId);
        const unfinished = await this.jobs.unfinished(printerId);
        if (unfinished.length) this.log.info({ printerId, count: unfinished.length }, 're-publishing unfinished jobs');
        this.onRepublish?.(unfinished);
        await this.publishAll(unfinished);
      } while (this.rerun.has(printerId) && !this.stopped);
    })().finally(() => this.republishing.delete(printerId));
    this.republishing.set(printerId, run);
    return run;
  }

  /**
   * Publishes again jobs of one printer that have not moved (the stall watchdog), unless its re-publication
   * is under way or another instance holds its claim; false when it did not. Safe: the agent prints a job
   * id once and answers with its latest ack.
   */
  async republishStalled(printerId: string, jobs: PrintJob[]): Promise<boolean> {
    if (this.stopped || this.republishing.has(printerId) || !(await this.claims.claim(printerId))) return false;
    await this.publishAll(jobs);
    return true;
  }

  /**
   * Acks are applied in the background so that many share one commit; when writes pile up past
   * ACK_BACKLOG_LIMIT the broker is made to wait (backpressure on the agents). An ack lost in a crash
   * here is not lost for good: the job stays unfinished, is re-published, and the agent answers again.
   */
  private async onAck(topic: string, payload: Buffer): Promise<void> {
    const parsed = parseTopic(topic);
    if (!parsed) return;
    const ack = parseAckMessage(payload);
    if (!ack.ok) {
      this.log.warn({ printerId: parsed.printerId, topic, error: ack.error }, 'malformed ack ignored');
      return;
    }
    const { uid } = ack.value;
    if (uid === undefined) {
      // An agent of job protocol 1: its journal knows jobs by number, which a replaced or restored database
      // hands out again, so its word cannot be matched to a job safely.
      this.logOldAgent(parsed.printerId, 'ack without job uid refused', ack.value.id);
      return;
    }
    const applying = this.jobs.applyAck(parsed.printerId, { ...ack.value, uid }).then(
      () => undefined,
      (err: unknown) =>
        this.log.error(
          { err, jobId: ack.value.id, printerId: parsed.printerId },
          'ack not applied; the job will be re-published',
        ),
    );
    this.track(applying);
    if (this.jobs.writeBacklog > ACK_BACKLOG_LIMIT) await applying;
  }

  /** Says which side to upgrade, at most once a minute per printer. */
  private logOldAgent(printerId: string, what: string, jobId?: number): void {
    const now = Date.now();
    if (now - (this.oldAgentLogged.get(printerId) ?? 0) < OLD_AGENT_LOG_EVERY_MS) return;
    this.oldAgentLogged.set(printerId, now);
    this.log.error(
      { printerId, ...(jobId !== undefined ? { jobId } : {}), serverProtocol: JOB_PROTOCOL },
      `${what}: the agent of this printer is older than the server (job protocol 1, no job uids); upgrade the agent`,
    );
  }

  private async onStatus(topic: string, payload: Buffer): Promise<void> {
    const parsed = parseTopic(topic);
    if (!parsed) return;
    if (payload.length === 0) return; // a retained status being cleared
    const status = parseStatusMessage(payload);
    if (!status.ok) {
      this.log.warn({ printerId: parsed.printerId, topic, error: status.error }, 'malformed status ignored');
      return;
    }
    const old = status.value.state === 'online' && (status.value.protocol ?? 1) < JOB_PROTOCOL;
    if (old) {
      this.oldAgents.add(parsed.printerId);
      this.logOldAgent(parsed.printerId, 'jobs held');
    } else if (status.value.state === 'online') this.oldAgents.delete(parsed.printerId);
    await this.printers.recordStatus(
      parsed.printerId,
      old ? { ...status.value, detail: OLD_AGENT_DETAIL } : status.value,
    );
    if (status.value.state === 'online' && !old) {
      // Not awaited: the agent's status publish must not wait for a backlog to be re-sent.
      this.republishFor(parsed.printerId).catch((err: unknown) =>
        this.log.error({ err, printerId: parsed.printerId }, 're-publication failed'),
      );
    }
  }
}
