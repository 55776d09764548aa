/**
 * Hands jobs to the broker and applies what agents answer: publishes each job with QoS 1, applies
 * acks and printer status, and re-publishes a printer's unfinished jobs when it comes online and at
 * start-up (the database, not the broker, is the source of truth); jobs that do not move are the stall
 * watchdog's (stall-watchdog.ts). With several instances, a job is published by the instance that accepted
 * it, and each printer's re-publications are done by the one instance holding its claim (cluster/printer-claims.ts).
 */
import type { Logger } from '../../runtime/logger';
import {
  encodeMessage,
  JOB_PROTOCOL,
  type JobMessage,
  parseAckMessage,
  parseStatusMessage,
} from '../../protocol/messages';
import { isFinal, type JobStatus } from '../../protocol/states';
import { parseTopic, topics } from '../../protocol/topics';
import type { MessageBus } from '../broker/message-bus';
import { type PrinterClaims, SoleInstanceClaims } from '../cluster/printer-claims';
import type { PrinterStatusList } from '../printers/printer-status-list';
import { printerOfAckTopic } from './ack-topics';
import type { JobService, PrintJob } from './job-service';

/** Writes waiting for a commit beyond which incoming acks wait for theirs. */
const ACK_BACKLOG_LIMIT = 2000;
/**
 * A printer's backlog is re-published in windows: at most this many of its jobs published and not yet
 * answered by its agent (any ack of the job), the next one as each answer comes. Without it a backlog of
 * 10,000 jobs was 10,000 QoS 1 messages in flight at once, and the broker's outgoing queue (aedes-persistence's
 * memory store: a linear search and an array `splice` per PUBACK) made the catch-up quadratic.
 */
export const BACKLOG_WINDOW = 256;
/** Unfinished jobs read at a time when a printer's backlog is re-published (one query per page). */
export const BACKLOG_PAGE = 256;
/** A full window whose agent answers nothing for this long ends its re-publication (the stall watchdog and the agent's next `online` take it up). */
export const BACKLOG_WINDOW_STALL_MS = 30_000;
/** A printer whose agent is too old is named in the log at most this often. */
const OLD_AGENT_LOG_EVERY_MS = 60_000;

/** What the page and GET /printers show for an agent of job protocol 1 (no job uids). */
export const OLD_AGENT_DETAIL =
  'this agent is older than the server (job protocol 1, no job uids): upgrade the agent; its jobs wait until then';

/** One printer's re-publication under way: the jobs published and not yet answered, and who waits for room. */
class BacklogWindow {
  readonly awaiting = new Set<number>();
  /** Jobs published by their own request (a new job) while this pass runs: the pass does not send them again. */
  readonly direct = new Set<number>();
  /** Set when the pass must end now (the agent came back while the window was full, or the dispatcher stops). */
  cancelled = false;
  /** The highest job id a final ack named while this pass ran (the tail after the pass starts after it). */
  highestFinal = 0;
  private wake: (() => void) | null = null;

  constructor(
    readonly size: number,
    /** The agent's connection this pass sends to (MessageBus#agentConnection; undefined: the broker cannot tell). */
    readonly connection: number | undefined,
  ) {}

  /** The agent answered for this job (or it was never published): its place is free. */
  release(jobId: number): void {
    if (this.awaiting.delete(jobId) && this.awaiting.size < this.size) this.notify();
  }

  cancel(): void {
    this.cancelled = true;
    this.notify();
  }

  get full(): boolean {
    return this.awaiting.size >= this.size;
  }

  /** Resolves true once there is room, false when cancelled or after `stallMs` without room. */
  async room(stallMs: number): Promise<boolean> {
    while (this.full && !this.cancelled) {
      let timer: NodeJS.Timeout | undefined;
      const woken = await new Promise<boolean>((resolve) => {
        this.wake = () => resolve(true);
        timer = setTimeout(() => resolve(false), stallMs);
      });
      clearTimeout(timer);
      this.wake = null;
      if (!woken) return false;
    }
    return !this.cancelled;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

export interface DispatcherOptions {
  claims?: PrinterClaims;
  /** Jobs of a printer's backlog in flight at once (BACKLOG_WINDOW). */
  backlogWindow?: number;
  /** How long a full window waits for an answer before its pass ends (BACKLOG_WINDOW_STALL_MS). */
  backlogStallMs?: number;
  /** Unfinished jobs read at a time by a pass (BACKLOG_PAGE). */
  backlogPage?: number;
}

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
  /** The window of each printer whose backlog is being re-published. */
  private readonly windows = new Map<string, BacklogWindow>();
  /**
   * Per printer, the agent's connection (MessageBus#agentConnection) to which its last pass handed every
   * unfinished job to the broker: an `online` of that same connection has nothing to send again.
   */
  private readonly delivered = new Map<string, number>();
  /**
   * Per printer whose last pass has handed its whole backlog to the broker, the last job it published: until
   * that job's final ack (or BACKLOG_WINDOW_STALL_MS without any final ack of the printer), its acks stay
   * deferrable as during the pass. The agent takes a backlog much faster than it prints it, so most of a
   * catch-up's acks come after its pass; each final ack committed alone was a commit a job.
   */
  private readonly tails = new Map<string, { lastId: number; progress: number }>();

  constructor(
    private readonly bus: MessageBus,
    private readonly jobs: JobService,
    private readonly printers: PrinterStatusList,
    log: Logger,
    private readonly options: DispatcherOptions = {},
  ) {
    this.log = log.child({ module: 'dispatcher' });
  }

  /**
   * With several instances the acks are shared out among them (a shared subscription), so the instance
   * re-publishing a printer's backlog sees only its part of them: there the backlog goes unwindowed, as before.
   */
  private get backlogWindow(): number {
    if (this.options.backlogWindow !== undefined) return this.options.backlogWindow;
    return this.claims instanceof SoleInstanceClaims ? BACKLOG_WINDOW : Number.POSITIVE_INFINITY;
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
    // Counted, not read: each printer's pass reads its own backlog a page at a time.
    const counts = await this.jobs.queries.unfinishedCounts();
    const printers = [...counts.keys()];
    const count = [...counts.values()].reduce((a, b) => a + b, 0);
    if (count) this.log.info({ count, printers: printers.length }, 're-publishing unfinished jobs at start-up');
    // Not awaited: a backlog is re-sent window by window as its agent answers, which can take as long as
    // the agent is away; the server starts serving meanwhile (stop() and idle() wait for these passes).
    for (const printerId of printers)
      this.republishFor(printerId).catch((err: unknown) => this.log.error({ err, printerId }, 're-publication failed'));
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
    for (const window of this.windows.values()) window.cancel();
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
    // A pass over its printer's backlog that reaches this job later leaves it to this publication.
    if (this.windows.size) this.windows.get(job.printerId)?.direct.add(job.id);
    return this.publishTracked(job).then(() => undefined);
  }

  /** As publish; resolves whether the job went to the broker. */
  private publishTracked(job: PrintJob): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    const work = this.publishNow(job)
      .catch((err: unknown) => {
        this.log.error({ err, jobId: job.id, printerId: job.printerId }, 'publication failed');
        return false;
      })
      .then((published) => {
        // Left unfinished: the agent's next `online`, even on the same connection, publishes it again.
        if (!published) this.delivered.delete(job.printerId);
        return published;
      });
    this.track(work.then(() => undefined));
    return work;
  }

  /** Publishes jobs in order; their `sent` marks are committed together afterwards. */
  private async publishAll(jobs: PrintJob[]): Promise<void> {
    const marks: Promise<unknown>[] = [];
    for (const job of jobs) {
      if (this.stopped) break;
      marks.push(this.publishTracked(job));
    }
    await Promise.all(marks);
  }

  /**
   * Publishes a printer's backlog in order, at most a window of it unanswered at a time (BACKLOG_WINDOW):
   * each ack of one of its jobs lets the next one go. The backlog is read a page at a time (BACKLOG_PAGE),
   * the next page only once the window has room for its first job, so a backlog of any length costs the
   * memory of two pages. Ends early when the window is cancelled (the agent came back while it was full:
   * the next pass starts again from the first unfinished job) or stalls.
   */
  private async publishWindowed(printerId: string, window: BacklogWindow): Promise<boolean> {
    const marks: Promise<boolean>[] = [];
    const stallMs = this.options.backlogStallMs ?? BACKLOG_WINDOW_STALL_MS;
    let whole = false;
    let lastId = 0;
    let page: PrintJob[] = [];
    let next = 0;
    let afterId = 0;
    let total = 0;
    let more = true;
    const pageSize = this.options.backlogPage ?? BACKLOG_PAGE;
    for (;;) {
      if (this.stopped || window.cancelled) break;
      if (window.full && !(await window.room(stallMs))) {
        if (!window.cancelled)
          this.log.warn(
            { printerId, waiting: window.awaiting.size, published: marks.length },
            "re-publication paused: the agent answered none of the jobs in flight; the rest wait for the agent's next online status or the stall watchdog",
          );
        break;
      }
      if (next === page.length) {
        if (!more) {
          whole = true;
          break;
        }
        page = await this.jobs.queries.unfinished(printerId, afterId, pageSize);
        next = 0;
        more = page.length === pageSize;
        if (!page.length) {
          whole = true;
          break;
        }
        afterId = page.at(-1)!.id;
        total += page.length;
        this.onRepublish?.(page);
        if (this.stopped || window.cancelled) break;
      }
      const job = page[next++]!;
      // Published by its own request since this pass began: not again.
      if (window.direct.has(job.id)) continue;
      window.awaiting.add(job.id);
      lastId = job.id;
      marks.push(
        this.publishTracked(job).then((published) => {
          if (!published) window.release(job.id);
          return published;
        }),
      );
    }
    if (total) this.log.info({ printerId, count: total, published: marks.length }, 'unfinished jobs re-published');
    const published = await Promise.all(marks);
    // Not with several instances (an unbounded window): this one may never hear the last job's ack.
    if (lastId > window.highestFinal && Number.isFinite(window.size) && !window.cancelled && !this.stopped)
      this.tails.set(printerId, { lastId, progress: Date.now() });
    // Every unfinished job read went to the broker (none refused, none held for an old agent).
    return whole && !window.cancelled && published.every(Boolean);
  }

  /** Resolves true once the job is with the broker (false: held for an old agent, or the broker refused it). */
  private async publishNow(job: PrintJob): Promise<boolean> {
    if (this.oldAgents.has(job.printerId)) {
      this.logOldAgent(job.printerId, 'job held');
      return false;
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
      return false;
    }
    if (this.debug) this.log.debug({ jobId: job.id, printerId: job.printerId }, 'job published');
    // Deferrable: the mark rides with the next commit (the agent's `received` ack, usually) instead of one of its own.
    if (job.status === 'pending') await this.jobs.transition(job.id, 'sent', { deferrable: true });
    return true;
  }

  private get debug(): boolean {
    return this.log.isLevelEnabled('debug');
  }

  /** Re-publishes the printer's unfinished jobs, if this instance holds (or can take) the printer's claim. */
  republishFor(printerId: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const running = this.republishing.get(printerId);
    if (running) {
      // The agent's status on the connection this pass sends to (it says `online` after jobs, every
      // STATUS_AFTER_JOB_MS while it prints): nothing it had in flight is lost, and the pass goes on. Sending
      // it again from the first unfinished job would send again every job the agent holds and has not
      // printed yet (thousands in a long backlog, each answered again: 8 a job in a catch-up of 10,000).
      const window = this.windows.get(printerId);
      if (window && !window.cancelled && window.connection !== undefined)
        if (this.bus.agentConnection?.(printerId) === window.connection) return running;
      this.rerun.add(printerId);
      // A new connection (or a broker that cannot tell): the agent may have reconnected, and what it had in
      // flight may be lost. The pass ends, and the next one starts again from the first unfinished job: the
      // jobs it had already come again (its journal prints each once), and no later job goes before a lost one.
      window?.cancel();
      return running;
    }
    // Its status on the connection to which the last pass handed every unfinished job (the agent says
    // `online` after jobs, every STATUS_AFTER_JOB_MS while it prints): QoS 1 on that connection delivers
    // them, and sending them again would send every job it holds and has not printed yet once more.
    const connection = this.bus.agentConnection?.(printerId);
    if (connection !== undefined && this.delivered.get(printerId) === connection) return Promise.resolve();
    const run = (async () => {
      if (!(await this.claims.claim(printerId))) {
        this.log.debug({ printerId }, "another instance re-publishes this printer's jobs");
        return;
      }
      do {
        this.rerun.delete(printerId);
        const window = new BacklogWindow(this.backlogWindow, this.bus.agentConnection?.(printerId));
        this.windows.set(printerId, window);
        this.delivered.delete(printerId);
        this.tails.delete(printerId);
        try {
          const whole = await this.publishWindowed(printerId, window);
          if (whole && window.connection !== undefined && !this.rerun.has(printerId))
            this.delivered.set(printerId, window.connection);
        } finally {
          if (this.windows.get(printerId) === window) this.windows.delete(printerId);
        }
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
    const printerId = printerOfAckTopic(topic);
    if (printerId === null) return;
    const ack = parseAckMessage(payload);
    if (!ack.ok) {
      this.log.warn({ printerId, topic, error: ack.error }, 'malformed ack ignored');
      return;
    }
    // Any answer for a job frees its place in the printer's window (an ack refused below as well:
    // the agent has the job either way).
    if (this.windows.size) {
      const window = this.windows.get(printerId);
      if (window) {
        window.release(ack.value.id);
        if (isFinal(ack.value.status) && ack.value.id > window.highestFinal) window.highestFinal = ack.value.id;
      }
    }
    const parsed = { printerId };
    const { uid } = ack.value;
    if (uid === undefined) {
      // An agent of job protocol 1: its journal knows jobs by number, which a replaced or restored database
      // hands out again, so its word cannot be matched to a job safely.
      this.logOldAgent(parsed.printerId, 'ack without job uid refused', ack.value.id);
      return;
    }
    // While the printer's backlog is re-published, its acks (final ones too) ride with the next commit or
    // wait DEFER_MS: thousands of acks share a few commits, and no fsync of ours per job competes with
    // the agent's. Nothing waits for them: the window was freed above, and an ack lost in a crash is answered again.
    const deferrable = this.windows.has(parsed.printerId) || this.inTail(parsed.printerId, ack.value);
    const applying = this.jobs.applyAck(parsed.printerId, { ...ack.value, uid }, { deferrable }).then(
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

  /** Whether the printer's acks are still those of a backlog its last pass handed over (tails); `ack` counts. */
  private inTail(printerId: string, ack: { id: number; status: JobStatus }): boolean {
    if (!this.tails.size) return false;
    const tail = this.tails.get(printerId);
    if (!tail) return false;
    const now = Date.now();
    if (now - tail.progress > (this.options.backlogStallMs ?? BACKLOG_WINDOW_STALL_MS)) {
      this.tails.delete(printerId);
      return false;
    }
    if (isFinal(ack.status)) {
      tail.progress = now;
      // The backlog's last job is done: later acks (new jobs) commit as usual. This one still rides.
      if (ack.id >= tail.lastId) this.tails.delete(printerId);
    }
    return true;
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
    // The agent is gone (its will, or its own word): its backlog's pass stops at once, before it comes back,
    // so that nothing is sent to its next connection ahead of what this one may have lost; its `online`
    // starts a new pass from the first unfinished job.
    if (status.value.state !== 'online') {
      this.windows.get(parsed.printerId)?.cancel();
      this.delivered.delete(parsed.printerId);
      this.tails.delete(parsed.printerId);
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
