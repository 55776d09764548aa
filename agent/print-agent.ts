/**
 * What happens to a job on the agent, in DESIGN.md's order: journal `received` → PUBACK + `received`
 * ack → journal `printing` → bytes to the printer → journal `printed` → `printed` ack. A job id the
 * journal knows is never printed again; its latest ack is sent instead.
 */
import type { AgentConfig } from '../config';
import type { Logger } from '../config/logger';
import { type AckStatus, type JobMessage, parseJobMessage, type StatusMessage } from '../protocol/messages';
import type { Part } from '../config/lifecycle';
import { FINAL_JOURNAL_STATES, type JobJournal, type JournalEntry } from './journal';
import type { AgentLink } from './link';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError } from './printers';
import { type StatusReport, WAITING_CONDITIONS } from './printers/status';
import { renderJob } from './receipt';
import { checkReceiptLength } from '../protocol/receipt-limits';

export const AGENT_VERSION = '0.1.0';

/** How long a printer connection kept open across a burst of jobs stays open with nothing to print. */
export const PRINTER_IDLE_CLOSE_MS = 200;

/** How often a waiting job asks again whether the paper is back (sooner if PRINTER_STATUS_INTERVAL_MS is shorter). */
const WAITING_RECHECK_MS = 2000;
/** A printed job updates the retained status (last job, journal size) at most this often. */
const STATUS_AFTER_JOB_MS = 2000;

const ackStatusOf = (entry: JournalEntry): AckStatus => (entry.state === 'printing' ? 'received' : entry.state);

export class PrintAgent implements Part {
  readonly name = 'print agent';
  private readonly log: Logger;
  private readonly queue: number[] = [];
  private readonly queued = new Set<number>();
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
  /** A printer that takes job after job on one connection (transport.holdsOpen) keeps it across a burst. */
  private readonly holdsOpen: boolean;
  private held: PrinterConnection | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** The next job, whose `printing` line went to disk in the same sync as the last job's `printed`. */
  private printingAlready: number | null = null;

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
        await this.journal.record(entry.id, 'interrupted', {
          error: 'the agent stopped while this job was printing; it may be partly printed',
        });
        this.log.warn({ jobId: entry.id }, 'job was printing when the agent stopped: interrupted');
      } else if (entry.state === 'received') {
        this.enqueue(entry.id);
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
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.statusAfterJob) clearTimeout(this.statusAfterJob);
    this.wakeRetry?.();
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
    const known = this.journal.get(job.id);
    if (known) {
      this.log.info({ jobId: job.id, state: known.state }, 'job already seen: not printed again, ack re-sent');
      void this.sendAck(known);
      return;
    }
    if (Date.parse(job.createdAt) < Date.now() - this.journal.retentionMs) {
      // The journal forgets finished jobs after the retention period, so an id it does not know from
      // before then may be one it already printed: a person decides.
      const error = `the job is older than the agent's journal retention (${this.config.journalRetentionDays} days): it may already have been printed, so it is not printed automatically`;
      this.log.warn(
        { jobId: job.id, createdAt: job.createdAt },
        'job too old to know whether it was printed: interrupted',
      );
      const entry = await this.journal.record(job.id, 'interrupted', { error });
      setImmediate(() => void this.sendAck(entry));
      return;
    }
    const entry = await this.journal.record(job.id, 'received', { job });
    this.log.info({ jobId: job.id, chars: job.content.length }, 'job received');
    setImmediate(() => {
      void this.sendAck(entry);
      this.enqueue(job.id);
    });
  }

  private enqueue(id: number): void {
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.push(id);
    this.startWorker();
  }

  private startWorker(): void {
    if (this.worker || this.stopping) return;
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
      const id = this.queue.shift()!;
      try {
        await this.print(id);
      } catch (err) {
        this.log.error({ err, jobId: id }, 'unexpected error while printing');
      } finally {
        this.queued.delete(id);
      }
    }
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
  private nextReady(): number | undefined {
    const next = this.queue[0];
    const entry = next === undefined ? undefined : this.journal.get(next);
    return entry?.state === 'received' && entry.job ? next : undefined;
  }

  private async print(id: number): Promise<void> {
    const entry = this.journal.get(id);
    const alreadyPrinting = this.printingAlready === id;
    this.printingAlready = null;
    if (!entry || entry.state !== (alreadyPrinting ? 'printing' : 'received') || !entry.job) return;
    const job: JobMessage = entry.job;
    // A job that reached the broker without the server's check (published by hand) still may not unroll metres of paper.
    const tooLong =
      job.kind === 'test'
        ? null
        : checkReceiptLength(job.content, {
            columns: this.config.columns,
            codePage: this.config.codePage,
            maxLines: this.config.receiptMaxLines,
          });
    if (tooLong) {
      this.log.error(
        { jobId: id, lines: tooLong.lines, maxLines: tooLong.maxLines },
        'receipt too long: job failed, nothing printed',
      );
      await this.finish(id, 'failed', `not printed: ${tooLong.error}`);
      return;
    }
    const bytes = renderJob(job, {
      format: this.transport.format ?? 'escpos',
      columns: this.config.columns,
      codePage: this.config.codePage,
      timeZone: this.config.timeZone,
      printerId: this.config.printerId,
      agentVersion: AGENT_VERSION,
      printer: this.transport.description,
    });
    let connection = this.held;
    if (!connection) {
      connection = await this.openPrinter(id, entry);
      if (!connection) return;
    }

    if (!alreadyPrinting) await this.journal.record(id, 'printing');
    let printerJob: string | undefined;
    try {
      printerJob = (await connection.write(bytes, { id }))?.reference;
      // A close that fails (a network printer resetting the connection) means the printer may not have
      // taken every byte the system accepted: not a `printed` we can vouch for.
      if (connection !== this.held) await connection.close();
    } catch (err) {
      const reason = `printing failed after it started; the receipt may be partly printed: ${(err as Error).message}`;
      this.log.error({ jobId: id, error: reason }, 'job interrupted');
      if (connection === this.held) this.held = null;
      await connection.close().catch(() => undefined);
      await this.finish(id, 'interrupted', reason);
      return;
    }
    // On a connection held open, the next job goes on at once: this job's `printed` and the next one's
    // `printing` reach the disk in one sync. A crash before it leaves this job `printing` (interrupted)
    // and the next `received` (nothing of it sent); after it, the next job `printing` and none of its
    // bytes sent: one job `interrupted` either way.
    const next = this.held && !this.stopping ? this.nextReady() : undefined;
    if (next !== undefined) {
      this.printingAlready = next;
      const [done] = await Promise.all([this.journal.record(id, 'printed'), this.journal.record(next, 'printing')]);
      void this.sendAck(done, printerJob);
    } else {
      await this.finish(id, 'printed', undefined, printerJob);
    }
    const ms = Math.max(0, Date.now() - Date.parse(entry.at));
    this.lastJob = { id, at: new Date().toISOString(), ms };
    this.log.info(
      { jobId: id, bytes: bytes.length, printer: this.transport.description, printerJob, ms },
      'job printed',
    );
    this.statusAfterJob ??= setTimeout(() => {
      this.statusAfterJob = null;
      if (!this.stopping) this.link.updateStatus(this.currentStatus());
    }, STATUS_AFTER_JOB_MS);
    this.statusAfterJob.unref?.();
  }

  /** Waits for paper, then opens the printer, retrying while it is unavailable; null when the job is done with (failed) or stopping. */
  private async openPrinter(id: number, entry: JournalEntry): Promise<PrinterConnection | null> {
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
          await this.finish(id, 'failed', reason);
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
    id: number,
    state: 'printed' | 'failed' | 'interrupted',
    error?: string,
    printerJob?: string,
  ): Promise<void> {
    const entry = await this.journal.record(id, state, error ? { error } : {});
    void this.sendAck(entry, printerJob);
  }

  /** Sends the ack a journal entry stands for; the journal notes it once the broker confirms it. */
  private async sendAck(entry: JournalEntry, printerJob?: string): Promise<void> {
    const status = ackStatusOf(entry);
    try {
      await this.link.publishAck({
        id: entry.id,
        status,
        at: entry.at,
        ...(entry.error ? { error: entry.error } : {}),
        ...(printerJob ? { printerJob } : {}),
      });
      this.journal.confirmAck(entry.id, status);
    } catch (err) {
      this.log.debug({ jobId: entry.id, status, err }, 'ack not confirmed yet; sent again on reconnect');
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

  private currentStatus(): StatusMessage {
    const condition = this.condition;
    return {
      state: 'online',
      printer: this.printerProblem ? 'unavailable' : (condition?.condition ?? 'ok'),
      ...(this.printerProblem
        ? { detail: this.printerProblem }
        : condition && condition.condition !== 'ok'
          ? { detail: condition.detail }
          : {}),
      version: AGENT_VERSION,
      platform: `${process.platform}-${process.arch}`,
      columns: this.config.columns,
      codepage: this.config.codePage,
      uptimeS: Math.floor((Date.now() - this.startedAt) / 1000),
      journalSize: this.journal.size,
      ...(this.lastJob ? { lastJob: this.lastJob } : {}),
    };
  }

  private setPrinterProblem(problem: string | null): void {
    if (problem === this.printerProblem) return;
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
