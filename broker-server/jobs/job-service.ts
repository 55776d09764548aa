/**
 * The job store's only door: routes and the dispatcher create, read and move jobs through here,
 * and every status change goes through `transition`, which enforces DESIGN.md's state machine.
 */
import { EventEmitter } from 'node:events';
import { Op, UniqueConstraintError } from 'sequelize';
import type { Logger } from '../../config/logger';
import type { AckMessage, JobKind, StatusMessage } from '../../protocol/messages';
import { canTransition, FINAL_STATUSES, type JobStatus, REPRINTABLE_STATUSES, UNFINISHED_STATUSES } from '../../protocol/states';
import { type Cluster, type JobChange, SingleInstance } from '../db/cluster';
import type { Database } from '../db/database';
import type { JobRow, JobWriter } from '../db/job-writer';
import type { PrintJobRow, PrinterRow } from '../db/models';

export interface PrintJob {
  id: number;
  printerId: string;
  content: string;
  /** `message`, or `test` for a test print (the agent prints its test receipt, not the content). */
  kind: JobKind;
  status: JobStatus;
  error: string | null;
  reprintOf: number | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  receivedAt: string | null;
  printedAt: string | null;
  finishedAt: string | null;
}

export interface PrinterInfo {
  id: string;
  state: 'online' | 'offline' | 'unknown';
  /** What the agent last said of the printer itself (`ok`, `paper-out`, ...: protocol PRINTER_CONDITIONS), while online. */
  condition: string | null;
  detail: string | null;
  columns: number | null;
  codepage: string | null;
  lastSeenAt: string | null;
  configured: boolean;
}

export type TransitionResult =
  | { changed: true; job: PrintJob }
  | { changed: false; job: PrintJob | null; reason: 'unknown-job' | 'wrong-printer' | 'not-allowed' };

export class JobError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'JobError';
  }
}

const iso = (d: Date | string | null | undefined): string | null => (d ? new Date(d).toISOString() : null);

/** Raw SQLite rows hold dates as `YYYY-MM-DD HH:MM:SS.SSS +00:00`; PostgreSQL's are Dates. */
const rawIso = (d: string | Date | null): string | null =>
  d === null ? null : d instanceof Date ? d.toISOString() : new Date(d.replace(' ', 'T').replace(' +00:00', 'Z')).toISOString();

function fromRaw(row: JobRow): PrintJob {
  return {
    id: row.id,
    printerId: row.printer_id,
    content: row.content,
    kind: row.kind ?? 'message',
    status: row.status,
    error: row.error ?? null,
    reprintOf: row.reprint_of ?? null,
    createdAt: rawIso(row.created_at)!,
    updatedAt: rawIso(row.updated_at)!,
    sentAt: rawIso(row.sent_at),
    receivedAt: rawIso(row.received_at),
    printedAt: rawIso(row.printed_at),
    finishedAt: rawIso(row.finished_at),
  };
}

function toJob(row: PrintJobRow): PrintJob {
  return {
    id: row.id,
    printerId: row.printerId,
    content: row.content,
    kind: row.kind ?? 'message',
    status: row.status,
    error: row.error ?? null,
    reprintOf: row.reprintOf ?? null,
    createdAt: iso(row.createdAt)!,
    updatedAt: iso(row.updatedAt)!,
    sentAt: iso(row.sentAt),
    receivedAt: iso(row.receivedAt),
    printedAt: iso(row.printedAt),
    finishedAt: iso(row.finishedAt),
  };
}

/** Jobs whose content and last announced status are remembered. */
const RECENT_JOBS = 10_000;

export interface JobServiceEvents {
  job: [PrintJob];
  printer: [PrinterInfo];
}

export class JobService extends EventEmitter<JobServiceEvents> {
  private readonly log: Logger;
  private readonly writer: JobWriter;
  /** Printers whose agent has been seen, so that accepting a job needs no query. */
  private readonly seenPrinters = new Set<string>();
  private readonly statusWrites = new Map<string, Promise<PrinterInfo>>();
  /** Rows other instances changed, waiting for their content to be read (one read at a time, so they are announced in commit order). */
  private remoteChanges: JobChange[] = [];
  private readingRemote: Promise<void> | null = null;
  /**
   * The last status announced of recent jobs, so that a late notice never moves a job backwards, and,
   * when other instances share the database, their content (it never changes) for their notices.
   */
  private readonly recent = new Map<number, { content: string | null; status: JobStatus }>();
  private readonly shared: boolean;

  constructor(
    private readonly db: Database,
    private readonly configuredPrinters: readonly string[],
    log: Logger,
    cluster: Cluster = new SingleInstance(),
  ) {
    super();
    this.setMaxListeners(0); // one listener per open event stream
    this.log = log.child({ module: 'jobs' });
    this.writer = db.createJobWriter(cluster.instanceId);
    this.shared = cluster.shared;
    cluster.onRemoteJobChanges((ids) => this.onRemoteChanges(ids));
  }

  /** Writes waiting for their commit. */
  get writeBacklog(): number {
    return this.writer.backlog;
  }

  async create(input: { printerId: string; content: string; kind?: JobKind; reprintOf?: number }): Promise<PrintJob> {
    const job = fromRaw(await this.writer.insert({ printerId: input.printerId, content: input.content, kind: input.kind ?? 'message', reprintOf: input.reprintOf ?? null }));
    this.log.info({ jobId: job.id, printerId: job.printerId, reprintOf: job.reprintOf ?? undefined }, 'job stored');
    this.announce(job);
    return job;
  }

  /** A new job with the same content, for a job a person wants on paper again. */
  async reprint(id: number): Promise<PrintJob> {
    const original = await this.get(id);
    if (!original) throw new JobError(`job ${id} does not exist`, 404);
    if (!REPRINTABLE_STATUSES.has(original.status)) {
      throw new JobError(`job ${id} is ${original.status}; only printed, failed or interrupted jobs can be printed again`, 409);
    }
    return this.create({ printerId: original.printerId, content: original.content, kind: original.kind, reprintOf: original.id });
  }

  async get(id: number): Promise<PrintJob | null> {
    const row = await this.db.models.PrintJob.findByPk(id);
    return row ? toJob(row) : null;
  }

  async list(filter: { status?: JobStatus; printerId?: string; limit?: number } = {}): Promise<PrintJob[]> {
    const where: Record<string, unknown> = {};
    if (filter.status) where.status = filter.status;
    if (filter.printerId) where.printerId = filter.printerId;
    const rows = await this.db.models.PrintJob.findAll({ where, order: [['id', 'DESC']], limit: filter.limit ?? 50 });
    return rows.map(toJob);
  }

  /** Jobs the agent has not confirmed as final, oldest first (the order they must print in). */
  async unfinished(printerId?: string): Promise<PrintJob[]> {
    const where: Record<string, unknown> = { status: { [Op.in]: UNFINISHED_STATUSES } };
    if (printerId) where.printerId = printerId;
    const rows = await this.db.models.PrintJob.findAll({ where, order: [['id', 'ASC']] });
    return rows.map(toJob);
  }

  /** Deletes finished jobs (printed, failed, interrupted) that finished before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const count = await this.db.models.PrintJob.destroy({ where: { status: { [Op.in]: [...FINAL_STATUSES] }, finishedAt: { [Op.lt]: before } } });
    if (count) this.log.info({ count, before: before.toISOString() }, 'finished jobs pruned');
    return count;
  }

  /** Unfinished jobs of online printers that nothing has moved since `before`, oldest first, by printer. */
  async stale(before: Date): Promise<Map<string, PrintJob[]>> {
    const online = (await this.db.models.Printer.findAll({ where: { state: 'online' }, attributes: ['id'] })).map((p) => p.id);
    const byPrinter = new Map<string, PrintJob[]>();
    if (!online.length) return byPrinter;
    const rows = await this.db.models.PrintJob.findAll({
      where: { status: { [Op.in]: UNFINISHED_STATUSES }, printerId: { [Op.in]: online }, updatedAt: { [Op.lt]: before } },
      order: [['id', 'ASC']],
    });
    for (const job of rows.map(toJob)) byPrinter.set(job.printerId, [...(byPrinter.get(job.printerId) ?? []), job]);
    return byPrinter;
  }

  /**
   * The one place a job's status changes. The UPDATE only matches rows in a state that may move to
   * `to`, so two racing acks cannot both win and a final state can never be left.
   */
  async transition(id: number, to: JobStatus, opts: { printerId?: string; error?: string | null; at?: Date } = {}): Promise<TransitionResult> {
    const at = opts.at && !Number.isNaN(opts.at.getTime()) ? opts.at : new Date();
    const row = await this.writer.transition({ id, to, printerId: opts.printerId, error: opts.error ?? null, at });
    if (row) {
      const job = fromRaw(row);
      this.log.info({ jobId: id, printerId: job.printerId, status: to, error: job.error ?? undefined }, 'job status changed');
      this.announce(job);
      return { changed: true, job };
    }
    const job = await this.get(id);
    if (!job) return { changed: false, job: null, reason: 'unknown-job' };
    if (opts.printerId && job.printerId !== opts.printerId) return { changed: false, job, reason: 'wrong-printer' };
    return { changed: false, job, reason: 'not-allowed' };
  }

  /** Applies an agent's ack; acks are idempotent, and foreign or unknown ones change nothing. */
  async applyAck(printerId: string, ack: AckMessage): Promise<TransitionResult> {
    const result = await this.transition(ack.id, ack.status, { printerId, error: ack.error ?? null, at: new Date(ack.at) });
    if (!result.changed) {
      const level = result.reason === 'not-allowed' ? 'debug' : 'warn';
      this.log[level]({ jobId: ack.id, printerId, ack: ack.status, current: result.job?.status, reason: result.reason }, 'ack ignored');
    }
    return result;
  }

  // ---- printers ----

  async printers(): Promise<PrinterInfo[]> {
    const rows = await this.db.models.Printer.findAll({ order: [['id', 'ASC']] });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const ids = [...new Set([...this.configuredPrinters, ...byId.keys()])].sort();
    return ids.map((id) => this.toPrinter(id, byId.get(id)));
  }

  async printer(id: string): Promise<PrinterInfo | null> {
    const row = await this.db.models.Printer.findByPk(id);
    if (!row && !this.configuredPrinters.includes(id)) return null;
    return this.toPrinter(id, row ?? undefined);
  }

  /** A printer may receive jobs once configured or once its agent has been seen. */
  async isKnownPrinter(id: string): Promise<boolean> {
    if (this.configuredPrinters.includes(id) || this.seenPrinters.has(id)) return true;
    // Another server instance may have seen it: the database has the last word.
    if ((await this.db.models.Printer.count({ where: { id } })) === 0) return false;
    this.seenPrinters.add(id);
    return true;
  }

  /**
   * Applied one at a time per printer, in arrival order: the broker hands messages over concurrently,
   * and an older status written last would hide the newer one (`ok` over `paper-out`).
   */
  recordStatus(printerId: string, status: StatusMessage): Promise<PrinterInfo> {
    const previous = this.statusWrites.get(printerId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.writeStatus(printerId, status));
    this.statusWrites.set(printerId, run);
    void run.finally(() => {
      if (this.statusWrites.get(printerId) === run) this.statusWrites.delete(printerId);
    }).catch(() => undefined);
    return run;
  }

  private async writeStatus(printerId: string, status: StatusMessage): Promise<PrinterInfo> {
    const now = new Date();
    const existing = await this.db.models.Printer.findByPk(printerId);
    const values = {
      state: status.state,
      detail: status.detail ?? null,
      condition: status.state === 'online' ? (status.printer ?? null) : null,
      lastSeenAt: now,
      ...(status.columns ? { columns: status.columns } : {}),
      ...(status.codepage ? { codepage: status.codepage } : {}),
    };
    this.seenPrinters.add(printerId);
    if (existing) await existing.update(values);
    else {
      try {
        await this.db.models.Printer.create({ id: printerId, firstSeenAt: now, ...values });
      } catch (err) {
        // Every instance hears every status: another one may have created the row first.
        if (!(err instanceof UniqueConstraintError)) throw err;
        await this.db.models.Printer.update(values, { where: { id: printerId } });
      }
    }
    const info = (await this.printer(printerId))!;
    this.log.info({ printerId, state: info.state, condition: info.condition ?? undefined, detail: info.detail ?? undefined }, 'printer status');
    this.emit('printer', info);
    return info;
  }

  /** At start-up no agent is connected to a fresh embedded broker yet (an external broker's retained statuses say who is). */
  async markAllOffline(): Promise<void> {
    await this.db.models.Printer.update({ state: 'offline' }, { where: { state: 'online' } });
  }

  private announce(job: PrintJob): void {
    const last = this.recent.get(job.id);
    if (last && last.status !== job.status && !canTransition(last.status, job.status)) return;
    if (last?.status === job.status) return;
    this.recent.delete(job.id);
    this.recent.set(job.id, { content: this.shared ? job.content : null, status: job.status });
    if (this.recent.size > RECENT_JOBS) this.recent.delete(this.recent.keys().next().value!);
    this.emit('job', job);
  }

  private onRemoteChanges(rows: JobChange[]): void {
    this.remoteChanges.push(...rows);
    this.readRemoteChanges();
  }

  private readRemoteChanges(): void {
    if (this.readingRemote) return;
    this.readingRemote = this.announceRemoteChanges()
      .catch((err: unknown) => this.log.warn({ err }, 'could not read the changes of other instances'))
      .finally(() => {
        this.readingRemote = null;
        if (this.remoteChanges.length) this.readRemoteChanges();
      });
  }

  private async announceRemoteChanges(): Promise<void> {
    while (this.remoteChanges.length) {
      const batch = this.remoteChanges;
      this.remoteChanges = [];
      const unknown = [...new Set(batch.filter((row) => this.recent.get(row.id)?.content == null).map((row) => row.id))];
      const contents = new Map<number, string>();
      if (unknown.length) {
        const found = await this.db.models.PrintJob.findAll({ where: { id: { [Op.in]: unknown } }, attributes: ['id', 'content'] });
        for (const row of found) contents.set(row.id, row.content);
      }
      for (const row of batch) {
        const content = this.recent.get(row.id)?.content ?? contents.get(row.id);
        if (content != null) this.announce(fromRaw({ ...row, content }));
      }
    }
  }

  private toPrinter(id: string, row: PrinterRow | undefined): PrinterInfo {
    return {
      id,
      state: row ? (row.state === 'online' ? 'online' : 'offline') : 'unknown',
      condition: row?.state === 'online' ? (row.condition ?? null) : null,
      detail: row?.detail ?? null,
      columns: row?.columns ?? null,
      codepage: row?.codepage ?? null,
      lastSeenAt: iso(row?.lastSeenAt),
      configured: this.configuredPrinters.includes(id),
    };
  }
}
