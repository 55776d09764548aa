/**
 * What happens to a job on the agent, in DESIGN.md's order: journal `received` → PUBACK + `received`
 * ack → journal `printing` → bytes to the printer → journal `printed` → `printed` ack. A job id the
 * journal knows is never printed again; its latest ack is sent instead.
 */
import type { AgentConfig } from '../config';
import type { Logger } from '../config/logger';
import { type AckStatus, type JobMessage, parseJobMessage, type StatusMessage } from '../protocol/messages';
import { FINAL_JOURNAL_STATES, type Journal, type JournalEntry } from './journal';
import type { BrokerLink } from './link';
import { type PrinterTransport, PrinterUnavailableError } from './printers';
import { renderReceipt } from './receipt';

export const AGENT_VERSION = '0.1.0';

const ackStatusOf = (entry: JournalEntry): AckStatus => (entry.state === 'printing' ? 'received' : entry.state);

export class PrintAgent {
  private readonly log: Logger;
  private readonly queue: number[] = [];
  private readonly queued = new Set<number>();
  private worker: Promise<void> | null = null;
  private stopping = false;
  private wakeRetry: (() => void) | null = null;
  private printerProblem: string | null = null;

  constructor(
    private readonly config: AgentConfig,
    private readonly journal: Journal,
    private readonly transport: PrinterTransport,
    private readonly link: BrokerLink,
    log: Logger,
  ) {
    this.log = log.child({ module: 'agent', printerId: config.printerId });
  }

  /** Recovers from the journal, then connects. */
  async start(): Promise<void> {
    for (const entry of this.journal.all()) {
      if (entry.state === 'printing') {
        // Bytes may have reached the paper before the crash: a person decides, never an automatic reprint.
        await this.journal.record(entry.id, 'interrupted', { error: 'the agent stopped while this job was printing; it may be partly printed' });
        this.log.warn({ jobId: entry.id }, 'job was printing when the agent stopped: interrupted');
      } else if (entry.state === 'received') {
        this.enqueue(entry.id);
      }
    }
    this.link.on('connect', () => this.resendUnconfirmedAcks());
    this.link.start((payload) => this.takeJob(payload), this.currentStatus());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeRetry?.();
    await this.worker; // the receipt being printed is finished, not cut short
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
      this.log.warn({ jobId: job.id, createdAt: job.createdAt }, 'job too old to know whether it was printed: interrupted');
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
    while (this.queue.length && !this.stopping) {
      const id = this.queue.shift()!;
      try {
        await this.print(id);
      } catch (err) {
        this.log.error({ err, jobId: id }, 'unexpected error while printing');
      } finally {
        this.queued.delete(id);
      }
    }
  }

  private async print(id: number): Promise<void> {
    const entry = this.journal.get(id);
    if (!entry || entry.state !== 'received' || !entry.job) return;
    const job: JobMessage = entry.job;
    const bytes = renderReceipt(job, { columns: this.config.columns, codePage: this.config.codePage, timeZone: this.config.timeZone });
    const deadline = Date.parse(entry.at) + this.config.printerRetryLimitMs;

    let connection;
    for (let attempt = 0; ; attempt++) {
      try {
        connection = await this.transport.open();
        break;
      } catch (err) {
        const reason = err instanceof PrinterUnavailableError ? err.message : `cannot open the printer: ${(err as Error).message}`;
        this.setPrinterProblem(reason);
        if (Date.now() >= deadline || this.stopping) {
          if (this.stopping) return; // stays `received`: printed after the next start
          this.log.error({ jobId: id, error: reason }, 'printer unavailable for too long: job failed');
          await this.finish(id, 'failed', reason);
          return;
        }
        const { printerRetryMinMs, printerRetryMaxMs } = this.config;
        const wait = Math.min(printerRetryMaxMs, printerRetryMinMs * 2 ** Math.min(attempt, 20), Math.max(0, deadline - Date.now()));
        this.log.warn({ jobId: id, error: reason, retryInMs: wait }, 'printer unavailable; job waits');
        await this.sleep(wait);
      }
    }
    this.setPrinterProblem(null);

    await this.journal.record(id, 'printing');
    try {
      await connection.write(bytes);
      // A close that fails (a network printer resetting the connection) means the printer may not have
      // taken every byte the system accepted: not a `printed` we can vouch for.
      await connection.close();
    } catch (err) {
      const reason = `printing failed after it started; the receipt may be partly printed: ${(err as Error).message}`;
      this.log.error({ jobId: id, error: reason }, 'job interrupted');
      await connection.close().catch(() => undefined);
      await this.finish(id, 'interrupted', reason);
      return;
    }
    await this.finish(id, 'printed');
    this.log.info({ jobId: id, bytes: bytes.length, printer: this.transport.description }, 'job printed');
  }

  private async finish(id: number, state: 'printed' | 'failed' | 'interrupted', error?: string): Promise<void> {
    const entry = await this.journal.record(id, state, error ? { error } : {});
    void this.sendAck(entry);
  }

  /** Sends the ack a journal entry stands for; the journal notes it once the broker confirms it. */
  private async sendAck(entry: JournalEntry): Promise<void> {
    const status = ackStatusOf(entry);
    try {
      await this.link.publishAck({ id: entry.id, status, at: entry.at, ...(entry.error ? { error: entry.error } : {}) });
      this.journal.confirmAck(entry.id, status);
    } catch (err) {
      this.log.debug({ jobId: entry.id, status, err }, 'ack not confirmed yet; sent again on reconnect');
    }
  }

  private resendUnconfirmedAcks(): void {
    for (const entry of this.journal.all()) {
      const status = ackStatusOf(entry);
      if (entry.acked !== status && (FINAL_JOURNAL_STATES.has(entry.state) || entry.acked === undefined)) void this.sendAck(entry);
    }
  }

  private currentStatus(): StatusMessage {
    return {
      state: 'online',
      printer: this.printerProblem ? 'unavailable' : 'ok',
      ...(this.printerProblem ? { detail: this.printerProblem } : {}),
      version: AGENT_VERSION,
      columns: this.config.columns,
      codepage: this.config.codePage,
    };
  }

  private setPrinterProblem(problem: string | null): void {
    if (problem === this.printerProblem) return;
    this.printerProblem = problem;
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
