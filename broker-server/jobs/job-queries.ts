/**
 * Every read of jobs and of the event log, in one interface: the routes, the live streams, the dispatcher,
 * the stall watchdog, webhooks and metrics read through this, never through JobService (which only creates
 * and moves jobs) nor the store itself.
 */
import type { JobFilter, PrintStore } from '../store/print-store';
import type { JobEvent, JobEventBounds, PrintJob } from './model/print-job';

export class JobQueries {
  constructor(private readonly store: PrintStore) {}

  get(id: number): Promise<PrintJob | null> {
    return this.store.get(id);
  }

  list(filter: JobFilter = {}): Promise<PrintJob[]> {
    return this.store.list(filter);
  }

  /**
   * Jobs the agent has not confirmed as final, oldest first (the order they must print in); with `limit`,
   * one page of them after job `afterId`.
   */
  unfinished(printerId?: string, afterId?: number, limit?: number): Promise<PrintJob[]> {
    return this.store.unfinished(printerId, afterId, limit);
  }

  /** Unfinished jobs per printer (one COUNT query where the store has one). */
  async unfinishedCounts(): Promise<Map<string, number>> {
    if (this.store.unfinishedCounts) return this.store.unfinishedCounts();
    const counts = new Map<string, number>();
    for (const job of await this.store.unfinished()) counts.set(job.printerId, (counts.get(job.printerId) ?? 0) + 1);
    return counts;
  }

  /** Unfinished jobs of online printers that nothing has moved since `before`, oldest first, by printer. */
  async stale(before: Date): Promise<Map<string, PrintJob[]>> {
    const byPrinter = new Map<string, PrintJob[]>();
    for (const job of await this.store.stale(before))
      byPrinter.set(job.printerId, [...(byPrinter.get(job.printerId) ?? []), job]);
    return byPrinter;
  }

  /** The event log (GET /jobs/events, webhooks): up to `limit` job changes after event `afterId`, in commit order. */
  eventsAfter(afterId: number, limit: number): Promise<JobEvent[]> {
    return this.store.eventsAfter(afterId, limit);
  }

  eventBounds(): Promise<JobEventBounds> {
    return this.store.eventBounds();
  }
}
