/**
 * An in-memory PrintStore for the fast tests: the rules of store/job-rules.ts on a Map. Writes resolve
 * once "committed"; `holdCommits()` keeps them waiting, to see what happens between a write and its commit.
 */
import { UNFINISHED_STATUSES, isFinal } from '../../protocol/states';
import { applyTransition, jobAsOf, withUid } from '../../broker-server/store/job-rules';
import type {
  JobEvent,
  JobEventBounds,
  JobFilter,
  PrintStore,
  NewJob,
  PrinterRecord,
  PrinterStatusWrite,
  PrintJob,
  TransitionRequest,
} from '../../broker-server/store/print-store';

export class MemoryPrintStore implements PrintStore {
  readonly jobs = new Map<number, PrintJob>();
  readonly printerRows = new Map<string, PrinterRecord>();
  /** The event log: each committed move, in order, as the SQL stores' triggers write it. */
  readonly events: Array<{ id: number; jobId: number; status: PrintJob['status']; at: string }> = [];
  private nextId = 1;
  private nextEventId = 1;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  private waiting = 0;
  private readonly commitListeners: Array<(lastEventId: number) => void> = [];

  get backlog(): number {
    return this.waiting;
  }

  /** Writes wait until the returned function is called. */
  holdCommits(): () => void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
    return () => {
      this.gate = null;
      this.openGate?.();
    };
  }

  async insert(job: NewJob): Promise<PrintJob> {
    await this.commit();
    const now = new Date().toISOString();
    const { uid, ...rest } = withUid(job);
    const stored: PrintJob = {
      id: this.nextId++,
      ...rest,
      createdBy: job.createdBy ?? null,
      status: 'pending',
      error: null,
      createdAt: now,
      updatedAt: now,
      sentAt: null,
      receivedAt: null,
      printedAt: null,
      finishedAt: null,
      uid,
    };
    this.jobs.set(stored.id, stored);
    this.logEvent(stored);
    this.committed();
    return { ...stored };
  }

  async transition(request: TransitionRequest): Promise<PrintJob | null> {
    await this.commit();
    const job = this.jobs.get(request.id);
    const moved = job ? applyTransition(job, request, new Date()) : null;
    if (moved) this.jobs.set(moved.id, moved);
    if (moved) this.logEvent(moved);
    if (moved) this.committed();
    return moved ? { ...moved } : null;
  }

  async get(id: number): Promise<PrintJob | null> {
    const job = this.jobs.get(id);
    return job ? { ...job } : null;
  }

  async list(filter: JobFilter): Promise<PrintJob[]> {
    return this.all()
      .filter(
        (j) =>
          (!filter.status || j.status === filter.status) && (!filter.printerId || j.printerId === filter.printerId),
      )
      .filter(
        (j) =>
          (!filter.since || j.createdAt >= filter.since.toISOString()) &&
          (!filter.until || j.createdAt < filter.until.toISOString()),
      )
      .filter((j) => filter.beforeId === undefined || j.id < filter.beforeId)
      .reverse()
      .slice(0, filter.limit ?? 50);
  }

  async unfinished(printerId?: string, afterId = 0, limit?: number): Promise<PrintJob[]> {
    const jobs = this.all().filter(
      (j) => UNFINISHED_STATUSES.includes(j.status) && (!printerId || j.printerId === printerId) && j.id > afterId,
    );
    return limit === undefined ? jobs : jobs.slice(0, limit);
  }

  async stale(before: Date): Promise<PrintJob[]> {
    return (await this.unfinished()).filter(
      (j) => Date.parse(j.updatedAt) < before.getTime() && this.printerRows.get(j.printerId)?.state === 'online',
    );
  }

  async prune(before: Date): Promise<number> {
    const old = this.all().filter(
      (j) => isFinal(j.status) && j.finishedAt !== null && Date.parse(j.finishedAt) < before.getTime(),
    );
    for (const j of old) this.jobs.delete(j.id);
    return old.length;
  }

  async printers(): Promise<PrinterRecord[]> {
    return [...this.printerRows.values()].sort((a, b) => a.id.localeCompare(b.id)).map((p) => ({ ...p }));
  }

  async printer(id: string): Promise<PrinterRecord | null> {
    const row = this.printerRows.get(id);
    return row ? { ...row } : null;
  }

  async writePrinterStatus(id: string, status: PrinterStatusWrite): Promise<void> {
    const old = this.printerRows.get(id);
    this.printerRows.set(id, {
      id,
      state: status.state,
      condition: status.condition,
      detail: status.detail,
      columns: status.columns ?? old?.columns ?? null,
      codepage: status.codepage ?? old?.codepage ?? null,
      lastSeenAt: status.at.toISOString(),
      agentInfo: status.agentInfo ?? old?.agentInfo ?? null,
    });
  }

  async eventsAfter(afterId: number, limit: number): Promise<JobEvent[]> {
    return this.events
      .filter((e) => e.id > afterId)
      .slice(0, limit)
      .map((e) => {
        const job = this.jobs.get(e.jobId);
        return { id: e.id, job: job ? jobAsOf({ ...job }, e.status, e.at) : null };
      });
  }

  async eventBounds(): Promise<JobEventBounds> {
    return { first: this.events[0]?.id ?? null, last: this.nextEventId - 1 };
  }

  async pruneEvents(before: Date): Promise<number> {
    // As the SQL stores: up to the first event at or after `before`, in id order, never the newest.
    const first = this.events.findIndex((e) => Date.parse(e.at) >= before.getTime());
    const keep = this.events.slice(first === -1 ? Math.max(0, this.events.length - 1) : first);
    const pruned = this.events.length - keep.length;
    this.events.splice(0, this.events.length, ...keep);
    return pruned;
  }

  async markAllOffline(): Promise<void> {
    for (const row of this.printerRows.values()) if (row.state === 'online') row.state = 'offline';
  }

  onCommitted(listener: (lastEventId: number) => void): void {
    this.commitListeners.push(listener);
  }

  private committed(): void {
    for (const listener of this.commitListeners) listener(this.nextEventId - 1);
  }

  private logEvent(job: PrintJob): void {
    this.events.push({ id: this.nextEventId++, jobId: job.id, status: job.status, at: job.updatedAt });
  }

  private all(): PrintJob[] {
    return [...this.jobs.values()].sort((a, b) => a.id - b.id).map((j) => ({ ...j }));
  }

  private async commit(): Promise<void> {
    this.waiting++;
    try {
      while (this.gate) await this.gate;
    } finally {
      this.waiting--;
    }
  }
}
