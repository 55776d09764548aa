/**
 * What happens to a job on the agent, in DESIGN.md's order: journal `received` → PUBACK + `received`
 * ack → journal `printing` → bytes to the printer → journal `printed` → `printed` ack. A job uid the
 * journal knows is never printed again; its latest ack is sent instead. Jobs are known by uid, never by
 * number alone (issue 24): numbers start over in a replaced database and repeat after a restore.
 */
import type { AgentConfig } from '../config';
import type { Logger } from '../runtime/logger';
import {
  type AckStatus,
  JOB_PROTOCOL,
  type AgentFault,
  type AgentFaultCode,
  type JobMessage,
  parseJobMessage,
  type StatusMessage,
} from '../protocol/messages';
import type { Part } from '../runtime/lifecycle';
import {
  FINAL_JOURNAL_STATES,
  isLegacyKey,
  type JobJournal,
  type JournalEntry,
  type JournalState,
  legacyKey,
} from './journal';
import type { AgentLink } from './link';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError } from './printers';
import { type StatusReport, WAITING_CONDITIONS } from './printers/status';
import { jobBytes, type JobRenderOptions, layoutJob } from './receipt';
import { receiptLengthProblem } from '../protocol/receipt-limits';

export const AGENT_VERSION = '0.1.0';

/** What the agent answers, and logs, for a job without uid: the server speaks job protocol 1. */
export const OLD_SERVER_ERROR =
  'not printed: the server is older than this agent (job protocol 1, no job uids); upgrade the server';

/** How long a printer connection kept open across a burst of jobs stays open with nothing to print. */
export const PRINTER_IDLE_CLOSE_MS = 200;
/** Jobs waiting behind the one printing from which the link batches its writes (AgentLink.batchWrites). */
const BATCH_WRITES_BACKLOG = 8;

/** How often a waiting job asks again whether the paper is back (sooner if PRINTER_STATUS_INTERVAL_MS is shorter). */
const WAITING_RECHECK_MS = 2000;
/** A printed job updates the retained status (last job, journal size) at most this often. */
export const STATUS_AFTER_JOB_MS = 2000;
/**
 * While jobs wait behind the one printing (a backlog), that status waits for the backlog's end, or this long at
 * most. The server takes every `online` status as a possible reconnection: it ends the printer's re-publication
 * under way and sends again every unfinished job from the first, which during a backlog are all the jobs waiting
 * here (each answered from the journal, not printed twice). A status every 2 s made a 10,000-job catch-up
 * about four deliveries a job (issue 22).
 */
export const STATUS_DURING_BACKLOG_MS = 60_000;

/** A journal write that failed is tried again after this, doubling up to JOURNAL_RETRY_MAX_MS (issue 25). */
export const JOURNAL_RETRY_MIN_MS = 100;
export const JOURNAL_RETRY_MAX_MS = 2000;

const ackStatusOf = (entry: JournalEntry): AckStatus => (entry.state === 'printing' ? 'received' : entry.state);

/** What a failed journal write means, in the status's words. */
export function journalFaultOf(err: unknown): { code: AgentFaultCode; words: string } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return { code: 'disk-full', words: `the disk is full (${code})` };
    case 'EROFS':
      return { code: 'disk-read-only', words: 'the disk is read-only (EROFS)' };
    case 'EACCES':
    case 'EPERM':
      return { code: 'disk-denied', words: `the agent may not write there (${code})` };
    default:
      return { code: 'journal-error', words: (err as Error | undefined)?.message ?? String(err) };
  }
}

export class PrintAgent implements Part {
  readonly name = 'print agent';
  private readonly log: Logger;
  /** Journal keys (job uids) of the jobs to print, in arrival order. */
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private worker: Promise<void> | null = null;
  private stopping = false;
  private wakeRetry: (() => void) | null = null;
  private printerProblem: string | null = null;
  /** The printer's last answer to a status request, where the transport can ask. */
  private condition: StatusReport | null = null;
  private statusCheck: Promise<StatusReport | null> | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private lastJob: { id: number; at: string; ms: number } | null = null;
  private statusAfterJob: NodeJS.Timeout | null = null;
  /** A status after jobs held back by a backlog: published when the printer has nothing left waiting. */
  private statusAfterBacklog = false;
  /** When the last status after jobs went out (the start counts as one: the link publishes it on connect). */
  private jobStatusAt = Date.now();
  /** A printer that takes job after job on one connection (transport.holdsOpen) keeps it across a burst. */
  private readonly holdsOpen: boolean;
  private held: PrinterConnection | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** The next job, whose `printing` line went to disk in the same sync as the last job's `printed`. */
  private printingAlready: string | null = null;
  private printerProblemSince: string | null = null;
  /** The journal cannot be written; cleared by the first write that succeeds with nothing else waiting. */
  private journalFault: AgentFault | null = null;
  /** Journal writes waiting to be tried again: jobs not yet taken, or steps of the job being printed. */
  private journalWaiting = 0;
  /** The printer took no bytes within PRINTER_TIMEOUT_MS; cleared by the next write that goes through. */
  private printerStalled: AgentFault | null = null;
  /** Jobs being taken (journal `received` under way or waiting), so that a repeat joins the first. */
  private readonly taking = new Map<string, Promise<void>>();
  /** Jobs taken (or being taken) that are not queued yet: a job after them is not the next to print. */
  private enqueuing = 0;
  /** The last job taken, so that jobs are queued for the printer in the order they came. */
  private lastTake: Promise<unknown> = Promise.resolve();
  private readonly pauses = new Set<() => void>();
  private journalTry: Promise<void> | null = null;
  private journalTries = 0;
  private statusQueued = false;

  constructor(
    private readonly config: AgentConfig,
    private readonly journal: JobJournal,
    private readonly transport: PrinterTransport,
    private readonly link: AgentLink,
    log: Logger,
  ) {
    this.log = log.child({ module: 'agent', printerId: config.printerId });
    // A printer asked its status before each job is asked on a connection of its own: not held open.
    this.holdsOpen = !!transport.holdsOpen && !transport.queryStatus;
  }

  /** Recovers from the journal, then connects. */
  async start(): Promise<void> {
    for (const entry of this.journal.all()) {
      if (entry.state === 'printing') {
        // Bytes may have reached the paper before the crash: a person decides, never an automatic reprint.
        const error = 'the agent stopped while this job was printing; it may be partly printed';
        try {
          await this.journal.record(entry.key, entry.id, 'interrupted', { error });
        } catch {
          // The journal cannot be written yet (a full disk): recorded, and acknowledged, as soon as it can.
          void this.recordDurably(entry.key, entry.id, 'interrupted', { error }).then(
            (done) => this.sendAck(done),
            () => undefined,
          );
        }
        this.log.warn({ jobId: entry.id, uid: entry.key }, 'job was printing when the agent stopped: interrupted');
      } else if (entry.state === 'received' && !isLegacyKey(entry.key)) {
        // (One from before job uids waits for the server to send its job again: adoptLegacy.)
        this.enqueue(entry.key);
      }
    }
    this.link.on('connect', () => this.resendUnconfirmedAcks());
    this.link.start((payload) => this.takeJob(payload), this.currentStatus());
    if (this.transport.queryStatus) {
      void this.checkPrinter();
      const every = this.config.printerStatusIntervalMs;
      // Between jobs only: a job asks for itself just before it prints.
      if (every > 0) this.statusTimer = setInterval(() => void (this.worker ? null : this.checkPrinter()), every);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of this.pauses) wake();
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.statusAfterJob) clearTimeout(this.statusAfterJob);
    this.wakeRetry?.();
    // A job being taken straight to `printing` (printsAtOnce) is printed, not left `printing` by a clean stop.
    await Promise.allSettled([...this.taking.values()]);
    await this.worker; // the receipt being printed is finished, not cut short
    await this.release();
    await this.statusCheck;
  }

  /** Called for each job message, before its PUBACK. */
  async takeJob(payload: Buffer): Promise<void> {
    const parsed = parseJobMessage(payload);
    if (!parsed.ok) {
      this.log.warn({ error: parsed.error, bytes: payload.length }, 'malformed job message ignored');
      return;
    }
    const job = parsed.value;
    const uid = job.uid;
    if (uid === undefined) {
      // A server of job protocol 1 (before issue 24): its job numbers are the only identity it gives, and
      // they repeat after a restore. Refused out loud: the server marks the job failed with this reason.
      this.log.error({ jobId: job.id, agentProtocol: JOB_PROTOCOL }, OLD_SERVER_ERROR);
      const at = new Date().toISOString();
      // Not journaled (there is no uid to keep it under): the server sends the job again, and hears this again.
      setImmediate(() =>
        this.link
          .publishAck({ id: job.id, status: 'failed', at, error: OLD_SERVER_ERROR })
          .catch((err: unknown) => this.log.debug({ jobId: job.id, err }, 'refusal not confirmed')),
      );
      return;
    }
    // Delivered again while the first copy is still being admitted (its journal line may wait for the disk):
    // it joins the first, so a uid is taken once, and the repeat is answered with the latest ack then.
    const taking = this.taking.get(uid);
    if (taking)
      return taking.then(() => {
        const known = this.journal.get(uid);
        if (known) void this.sendAck(known);
      });
    const admission = this.admit(job, uid).finally(() => this.taking.delete(uid));
    this.taking.set(uid, admission);
    return admission;
  }

  /** A job seen before is answered with its latest ack; one too old to know is `interrupted`; a new one is taken. */
  private async admit(job: JobMessage, uid: string): Promise<void> {
    const known = this.journal.get(uid) ?? (await this.adoptLegacy(job, uid));
    if (known) {
      this.log.info({ jobId: job.id, uid, state: known.state }, 'job already seen: not printed again, ack re-sent');
      void this.sendAck(known);
      return;
    }
    if (Date.parse(job.createdAt) < Date.now() - this.journal.retentionMs) {
      // The journal forgets finished jobs after the retention period, so an id it does not know from
      // before then may be one it already printed: a person decides.
      const error = `the job is older than the agent's journal retention (${this.config.journalRetentionDays} days): it may already have been printed, so it is not printed automatically`;
      this.log.warn(
        { jobId: job.id, uid, createdAt: job.createdAt },
        'job too old to know whether it was printed: interrupted',
      );
      const entry = await this.recordDurably(uid, job.id, 'interrupted', { error });
      setImmediate(() => void this.sendAck(entry));
      return;
    }
    return this.take(job, uid);
  }

  /**
   * Journals a new job `received`, waiting as long as the journal cannot be written (the broker holds the
   * job until then: no PUBACK), and queues it for the printer after the jobs that came before it.
   */
  private async take(job: JobMessage, uid: string): Promise<void> {
    const before = this.lastTake;
    const atOnce = this.printsAtOnce();
    if (!atOnce) this.enqueuing++;
    const received = this.recordDurably(uid, job.id, 'received', { job });
    // The job is the next to print, on a connection already open: its `printing` line goes to disk in the
    // same write and sync as its `received` (one sync a job alone instead of two). A crash before its
    // bytes leave it `interrupted` with nothing on paper: still the one job a crash may interrupt.
    const taken = (
      atOnce ? Promise.all([received, this.recordDurably(uid, job.id, 'printing')]) : Promise.all([received])
    ).then(async ([entry]) => {
      await before;
      return entry;
    });
    if (atOnce) this.printingAlready = uid;
    this.lastTake = taken.catch(() => undefined);
    let entry: JournalEntry;
    try {
      entry = await taken;
    } catch (err) {
      if (this.printingAlready === uid) this.printingAlready = null;
      if (!atOnce) this.enqueuing--;
      throw err;
    }
    this.log.info({ jobId: job.id, uid, chars: job.content.length }, 'job received');
    if (atOnce) {
      // Acknowledged and queued now, not after a turn: its `received` ack goes before its `printed` one, and
      // a stop() waiting for the takes in progress finds the worker printing it.
      void this.sendAck(entry);
      this.enqueue(uid);
      return;
    }
    setImmediate(() => {
      this.enqueuing--;
      void this.sendAck(entry);
      this.enqueue(uid);
    });
  }

  /**
   * True when a job taken now would be the next to print on a connection held open: nothing printing,
   * queued, being taken or taken and not yet queued before it, the journal writable, the agent not stopping. Its idle close is put
   * off, so the connection is still open when the job gets there.
   */
  private printsAtOnce(): boolean {
    if (
      !this.held ||
      this.worker ||
      this.stopping ||
      this.queue.length ||
      this.enqueuing ||
      this.taking.size > 1 ||
      this.printingAlready !== null ||
      this.journalFault ||
      this.journalWaiting
    )
      return false;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return true;
  }

  /**
   * A journal written before job uids knows jobs by number. Such an entry is this job only if the job was
   * created before the entry was last written (a job cannot reach the agent before it exists); a job a
   * restored or new database made later under the same number is another job. The entry moves under the
   * uid, and the job goes on from its state there (a `received` one is printed, a final one answered).
   */
  private async adoptLegacy(job: JobMessage, uid: string): Promise<JournalEntry | undefined> {
    const legacy = this.journal.get(legacyKey(job.id));
    if (!legacy || Date.parse(job.createdAt) > Date.parse(legacy.at)) return undefined;
    const state = legacy.state === 'printing' ? 'interrupted' : legacy.state;
    const entry = await this.recordDurably(uid, job.id, state, {
      ...(state === 'received' ? { job } : {}),
      ...(legacy.error ? { error: legacy.error } : {}),
    });
    this.log.info({ jobId: job.id, uid, state }, 'job known from the journal of before job uids');
    if (state === 'received') this.enqueue(uid);
    return entry;
  }

  /**
   * Records a state, trying again with backoff while the journal cannot be written (disk full, read-only,
   * permissions): the status says why meanwhile. Rejects only when the agent stops first.
   */
  private async recordDurably(
    key: string,
    id: number,
    state: JournalState,
    extra: { job?: JobMessage; error?: string } = {},
  ): Promise<JournalEntry> {
    let waited = false;
    const wait = async (err: unknown) => {
      if (!waited) {
        waited = true;
        this.journalWaiting++;
        this.statusSoon();
      }
      if (!this.stopping) await this.nextJournalTry();
      if (this.stopping) {
        this.journalWaiting--;
        throw err;
      }
    };
    // While the journal is failing, a new write waits its turn: every waiting one is tried together, in order.
    if (this.journalFault) await wait(new Error('the agent stopped while the journal could not be written'));
    for (;;) {
      try {
        const entry = await this.journal.record(key, id, state, extra);
        if (waited) this.journalWaiting--;
        if (this.journalFault && this.journalWaiting === 0) this.clearJournalFault();
        else if (waited) this.statusSoon();
        return entry;
      } catch (err) {
        this.noteJournalFault(err, id, state);
        await wait(err);
      }
    }
  }

  /**
   * One timer for every write waiting for the journal: they wake in the same turn, in the order they
   * started waiting, so their lines go to disk together, in that order, in one write. Backoff from
   * JOURNAL_RETRY_MIN_MS doubling to JOURNAL_RETRY_MAX_MS, reset once the journal can be written.
   */
  private nextJournalTry(): Promise<void> {
    this.journalTry ??= this.pause(
      Math.min(JOURNAL_RETRY_MAX_MS, JOURNAL_RETRY_MIN_MS * 2 ** Math.min(this.journalTries++, 10)),
    ).finally(() => {
      this.journalTry = null;
    });
    return this.journalTry;
  }

  private noteJournalFault(err: unknown, id: number, state: JournalState): void {
    const { code, words } = journalFaultOf(err);
    const detail = `cannot write the journal: ${words}; jobs wait on this PC and go on as soon as it can be written`;
    if (this.journalFault?.detail !== detail) {
      this.log.error(
        { jobId: id, state, err, code },
        'cannot write the journal; jobs wait until it can be written (reported in the status)',
      );
      this.journalFault = { code, detail, since: this.journalFault?.since ?? new Date().toISOString() };
    }
    this.statusSoon();
  }

  private clearJournalFault(): void {
    this.log.info({ since: this.journalFault?.since }, 'the journal can be written again; waiting jobs go on');
    this.journalFault = null;
    this.journalTries = 0;
    this.statusSoon();
  }

  /** One status publication for the changes of one turn of the event loop. */
  private statusSoon(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      if (!this.stopping) this.link.updateStatus(this.currentStatus());
    });
  }

  /** A wait that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.pauses.add(wake);
    });
  }

  private enqueue(key: string): void {
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.startWorker();
  }

  private startWorker(): void {
    // Stopping, only a job already journaled `printing` is printed (drain).
    if (this.worker || (this.stopping && this.printingAlready === null)) return;
    this.worker = this.drain().finally(() => {
      this.worker = null;
      // A job queued while the last one finished must not wait for the next message.
      if (this.queue.length) this.startWorker();
    });
  }

  private async drain(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    // A job already journaled `printing` is printed even when stopping: it must not become `interrupted`
    // after a clean stop, nor is anything of it on paper yet.
    while (this.queue.length && (!this.stopping || this.printingAlready !== null)) {
      // A backlog: its jobs' acks leave together, a few milliseconds apart, not in a socket write a job.
      this.link.batchWrites?.(this.queue.length >= BATCH_WRITES_BACKLOG);
      const key = this.queue.shift()!;
      try {
        await this.print(key);
      } catch (err) {
        this.log.error({ err, jobId: this.journal.get(key)?.id, uid: key }, 'unexpected error while printing');
      } finally {
        this.queued.delete(key);
      }
    }
    if (this.statusAfterBacklog && !this.stopping) this.publishJobStatus();
    this.link.batchWrites?.(false);
    if (this.held && !this.stopping) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        if (!this.worker) void this.release();
      }, PRINTER_IDLE_CLOSE_MS);
    }
  }

  /** Closes a connection held open across a burst. Its jobs are already `printed`: each write said so. */
  private async release(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const connection = this.held;
    this.held = null;
    await connection
      ?.close()
      .catch((err: unknown) =>
        this.log.warn({ err, printer: this.transport.description }, 'closing the printer failed'),
      );
  }

  /** The job to print next, if it is ready to go (received, with its content). */
  private nextReady(): string | undefined {
    const next = this.queue[0];
    const entry = next === undefined ? undefined : this.journal.get(next);
    return entry?.state === 'received' && entry.job ? next : undefined;
  }

  private async print(key: string): Promise<void> {
    const entry = this.journal.get(key);
    const alreadyPrinting = this.printingAlready === key;
    this.printingAlready = null;
    if (!entry || entry.state !== (alreadyPrinting ? 'printing' : 'received') || !entry.job) return;
    const id = entry.id;
    const job: JobMessage = entry.job;
    const rendering: JobRenderOptions = {
      format: this.transport.format ?? 'escpos',
      columns: this.config.columns,
      codePage: this.config.codePage,
      timeZone: this.config.timeZone,
      printerId: this.config.printerId,
      agentVersion: AGENT_VERSION,
      printer: this.transport.description,
    };
    // Laid out once: counted, then printed (the date line is as long whatever the date).
    const lines = layoutJob(job, rendering);
    // A job that reached the broker without the server's check (published by hand) still may not unroll metres of paper.
    const tooLong =
      job.kind === 'test' ? null : receiptLengthProblem(lines.length, this.config.receiptMaxLines, this.config.columns);
    if (tooLong) {
      this.log.error(
        { jobId: id, lines: tooLong.lines, maxLines: tooLong.maxLines },
        'receipt too long: job failed, nothing printed',
      );
      await this.finish(entry, 'failed', `not printed: ${tooLong.error}`);
      return;
    }
    const bytes = jobBytes(lines, rendering);
    let connection = this.held;
    if (!connection) {
      connection = await this.openPrinter(entry);
      if (!connection) return;
    }

    if (!alreadyPrinting) await this.recordDurably(key, id, 'printing');
    let printerJob: string | undefined;
    try {
      printerJob = (await connection.write(bytes, { id }))?.reference;
      if (this.printerStalled) this.setPrinterStalled(null);
      // A close that fails (a network printer resetting the connection) means the printer may not have
      // taken every byte the system accepted: not a `printed` we can vouch for.
      if (connection !== this.held) await connection.close();
    } catch (err) {
      const reason = `printing failed after it started; the receipt may be partly printed: ${(err as Error).message}`;
      this.log.error({ jobId: id, error: reason }, 'job interrupted');
      // A printer that accepts a connection and never takes the bytes: said in the status until one goes through.
      if (/timed out/.test((err as Error).message))
        this.setPrinterStalled(`the printer takes no more data: ${(err as Error).message}`);
      if (connection === this.held) this.held = null;
      await connection.close().catch(() => undefined);
      await this.finish(entry, 'interrupted', reason);
      return;
    }
    // On a connection held open, the next job goes on at once: this job's `printed` and the next one's
    // `printing` reach the disk in one sync. A crash before it leaves this job `printing` (interrupted)
    // and the next `received` (nothing of it sent); after it, the next job `printing` and none of its
    // bytes sent: one job `interrupted` either way.
    const next = this.held && !this.stopping ? this.nextReady() : undefined;
    if (next !== undefined) {
      this.printingAlready = next;
      const [done] = await Promise.all([
        this.recordDurably(key, id, 'printed'),
        this.recordDurably(next, this.journal.get(next)!.id, 'printing'),
      ]);
      void this.sendAck(done, printerJob);
    } else {
      await this.finish(entry, 'printed', undefined, printerJob);
    }
    const ms = Math.max(0, Date.now() - Date.parse(entry.at));
    this.lastJob = { id, at: new Date().toISOString(), ms };
    this.log.info(
      { jobId: id, bytes: bytes.length, printer: this.transport.description, printerJob, ms },
      'job printed',
    );
    this.statusAfterJobs();
  }

  /** A printed job updates the retained status, at most every STATUS_AFTER_JOB_MS (see STATUS_DURING_BACKLOG_MS). */
  private statusAfterJobs(): void {
    this.statusAfterJob ??= setTimeout(() => {
      this.statusAfterJob = null;
      if (this.stopping) return;
      // Jobs still waiting: held back until there are none (drain), or STATUS_DURING_BACKLOG_MS at most.
      if (this.queue.length && Date.now() - this.jobStatusAt < STATUS_DURING_BACKLOG_MS) {
        this.statusAfterBacklog = true;
        return;
      }
      this.publishJobStatus();
    }, STATUS_AFTER_JOB_MS);
    this.statusAfterJob.unref?.();
  }

  /** The retained status with the last job and the journal's size. */
  private publishJobStatus(): void {
    this.statusAfterBacklog = false;
    this.jobStatusAt = Date.now();
    this.link.updateStatus(this.currentStatus());
  }

  /** Waits for paper, then opens the printer, retrying while it is unavailable; null when the job is done with (failed) or stopping. */
  private async openPrinter(entry: JournalEntry): Promise<PrinterConnection | null> {
    const id = entry.id;
    const waitStarted = Date.now();
    if (!(await this.waitUntilPrintable(id))) return null; // stopping: stays `received`, printed after the next start
    // Time spent waiting for paper (the printer said why, and a person can fix it) does not count
    // against the limit for a printer that cannot be reached at all.
    const waitedForPaper = Date.now() - waitStarted > WAITING_RECHECK_MS ? Date.now() : 0;
    const deadline = Math.max(Date.parse(entry.at), waitedForPaper) + this.config.printerRetryLimitMs;

    let connection: PrinterConnection;
    for (let attempt = 0; ; attempt++) {
      try {
        connection = await this.transport.open();
        break;
      } catch (err) {
        const reason =
          err instanceof PrinterUnavailableError ? err.message : `cannot open the printer: ${(err as Error).message}`;
        this.setPrinterProblem(reason);
        if (Date.now() >= deadline || this.stopping) {
          if (this.stopping) return null; // stays `received`: printed after the next start
          this.log.error({ jobId: id, error: reason }, 'printer unavailable for too long: job failed');
          await this.finish(entry, 'failed', reason);
          return null;
        }
        const { printerRetryMinMs, printerRetryMaxMs } = this.config;
        const wait = Math.min(
          printerRetryMaxMs,
          printerRetryMinMs * 2 ** Math.min(attempt, 20),
          Math.max(0, deadline - Date.now()),
        );
        this.log.warn({ jobId: id, error: reason, retryInMs: wait }, 'printer unavailable; job waits');
        await this.sleep(wait);
      }
    }
    this.setPrinterProblem(null);
    if (this.holdsOpen) this.held = connection;
    return connection;
  }

  private async finish(
    { key, id }: JournalEntry,
    state: 'printed' | 'failed' | 'interrupted',
    error?: string,
    printerJob?: string,
  ): Promise<void> {
    const entry = await this.recordDurably(key, id, state, error ? { error } : {});
    void this.sendAck(entry, printerJob);
  }

  /**
   * Sends the ack a journal entry stands for; the journal notes it once the broker confirms it. An entry
   * from before job uids has no uid to answer with: it is answered once adopted (adoptLegacy).
   */
  private async sendAck(entry: JournalEntry, printerJob?: string): Promise<void> {
    if (isLegacyKey(entry.key)) return;
    const status = ackStatusOf(entry);
    try {
      await this.link.publishAck({
        id: entry.id,
        uid: entry.key,
        status,
        at: entry.at,
        ...(entry.error ? { error: entry.error } : {}),
        ...(printerJob ? { printerJob } : {}),
      });
      this.journal.confirmAck(entry.key, status);
    } catch (err) {
      this.log.debug(
        { jobId: entry.id, uid: entry.key, status, err },
        'ack not confirmed yet; sent again on reconnect',
      );
    }
  }

  private resendUnconfirmedAcks(): void {
    for (const entry of this.journal.all()) {
      const status = ackStatusOf(entry);
      if (entry.acked !== status && (FINAL_JOURNAL_STATES.has(entry.state) || entry.acked === undefined))
        void this.sendAck(entry);
    }
  }

  /**
   * Asks the printer how it is, where the transport can, and publishes any change. One question at a
   * time: a caller arriving while one is out shares its answer. Never rejects.
   */
  private checkPrinter(): Promise<StatusReport | null> {
    const transport = this.transport;
    if (!transport.queryStatus) return Promise.resolve(null);
    if (this.statusCheck) return this.statusCheck;
    const check = transport
      .queryStatus()
      .then((report) => {
        this.setCondition(report);
        return report;
      })
      .catch((err: unknown) => {
        this.log.warn({ err }, 'printer status request failed');
        return null;
      })
      .finally(() => {
        this.statusCheck = null;
      });
    this.statusCheck = check;
    return check;
  }

  /** While the paper is out (or the cover open, or the printer in error) a job waits, however long. False when stopping. */
  private async waitUntilPrintable(id: number): Promise<boolean> {
    for (;;) {
      const report = await this.checkPrinter();
      if (!report || !WAITING_CONDITIONS.has(report.condition)) return true;
      if (this.stopping) return false;
      this.log.debug({ jobId: id, condition: report.condition }, 'job waits for the printer');
      await this.sleep(Math.min(WAITING_RECHECK_MS, this.config.printerStatusIntervalMs || WAITING_RECHECK_MS));
      if (this.stopping) return false;
    }
  }

  private setCondition(report: StatusReport): void {
    const previous = this.condition;
    this.condition = report;
    if (previous?.condition === report.condition && previous.detail === report.detail) return;
    const level = report.condition === 'ok' || report.condition === 'unknown' ? 'info' : 'warn';
    this.log[level](
      { condition: report.condition, detail: report.detail, printer: this.transport.description },
      'printer status',
    );
    this.link.updateStatus(this.currentStatus());
  }

  /** The first thing that keeps jobs from moving: the journal, then the printer. */
  private currentFault(): AgentFault | null {
    if (this.journalFault)
      return { ...this.journalFault, ...(this.journalWaiting ? { waiting: this.journalWaiting } : {}) };
    if (this.printerStalled) return this.printerStalled;
    if (this.printerProblem)
      return {
        code: 'printer-unavailable',
        detail: this.printerProblem,
        since: this.printerProblemSince ?? new Date().toISOString(),
      };
    return null;
  }

  private setPrinterStalled(detail: string | null): void {
    if (detail === this.printerStalled?.detail || (!detail && !this.printerStalled)) return;
    if (detail) {
      this.log.warn({ error: detail, printer: this.transport.description }, 'the printer takes no more data');
      this.printerStalled = {
        code: 'printer-stalled',
        detail,
        since: this.printerStalled?.since ?? new Date().toISOString(),
      };
    } else {
      this.log.info({ printer: this.transport.description }, 'the printer takes data again');
      this.printerStalled = null;
    }
    this.statusSoon();
  }

  private currentStatus(): StatusMessage {
    const condition = this.condition;
    const fault = this.currentFault();
    return {
      state: 'online',
      printer: this.printerProblem ? 'unavailable' : (condition?.condition ?? 'ok'),
      ...(this.printerProblem
        ? { detail: this.printerProblem }
        : condition && condition.condition !== 'ok'
          ? { detail: condition.detail }
          : {}),
      version: AGENT_VERSION,
      protocol: JOB_PROTOCOL,
      platform: `${process.platform}-${process.arch}`,
      columns: this.config.columns,
      codepage: this.config.codePage,
      uptimeS: Math.floor((Date.now() - this.startedAt) / 1000),
      journalSize: this.journal.size,
      ...(this.lastJob ? { lastJob: this.lastJob } : {}),
      health: fault ? 'degraded' : 'ok',
      ...(fault ? { fault } : {}),
    };
  }

  private setPrinterProblem(problem: string | null): void {
    if (problem === this.printerProblem) return;
    this.printerProblemSince = problem ? (this.printerProblemSince ?? new Date().toISOString()) : null;
    this.printerProblem = problem;
    if (!problem && this.condition?.condition === 'unavailable') this.condition = null; // it opened after all
    if (problem) this.log.warn({ error: problem }, 'printer unavailable');
    else this.log.info({ printer: this.transport.description }, 'printer available');
    this.link.updateStatus(this.currentStatus());
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeRetry = done;
    }).finally(() => {
      this.wakeRetry = null;
    });
  }
}
