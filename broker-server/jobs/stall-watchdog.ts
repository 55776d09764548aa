/**
 * The stall watchdog (issue 25): a job `pending`, `sent` or `received` that has not moved for STALL_AFTER_S
 * while its printer is online is published again (the agent prints a job id once and answers with its latest
 * ack, so this is safe), logged with its job and printer, and counted; each time it stays put it waits twice
 * as long (at most 64 times) before the next try, so a printer out of paper for an hour is not flooded. A job
 * still stalled after SHOW_AFTER_TRIES tries is shown next to its printer (GET /printers `stalled`, the page)
 * with the time it last moved and the reason its agent gives. What it finds: jobs an instance died without
 * publishing, acks an instance died without applying, messages a broker or an agent lost after the PUBACK.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../runtime/logger';
import type { PrinterStatusList, StalledJobs } from '../printers/printer-status-list';
import type { Dispatcher } from './dispatcher';
import type { JobService, PrintJob } from './job-service';

/** Tries after which a job that still does not move is shown as waiting. */
export const SHOW_AFTER_TRIES = 2;
/** Stalled jobs logged one by one per printer and check; the rest in one line. */
const LOGGED_PER_PRINTER = 10;

interface Watch {
  printerId: string;
  /** Times published again by the watchdog. */
  tries: number;
  /** Not published again before this (ms). */
  next: number;
  /** When it last moved. */
  since: string;
}

export interface StallWatchdogEvents {
  /** A job published again because it had not moved. */
  stalled: [{ jobId: number; printerId: string }];
}

export class StallWatchdog extends EventEmitter<StallWatchdogEvents> {
  readonly name = 'stall watchdog';
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private watched = new Map<number, Watch>();
  private shown = new Map<string, StalledJobs>();
  private stopped = false;

  constructor(
    private readonly jobs: JobService,
    private readonly printers: PrinterStatusList,
    private readonly dispatcher: Dispatcher,
    log: Logger,
    private readonly options: { stallAfterMs: number },
  ) {
    super();
    this.log = log.child({ module: 'stall-watchdog' });
    printers.useStalls((printerId) => this.shown.get(printerId) ?? null);
    // A printer's re-publication (it came online) has just sent these: left alone for one period.
    dispatcher.onRepublish = (jobs) => this.noteSent(jobs);
  }

  start(): void {
    const { stallAfterMs } = this.options;
    if (stallAfterMs <= 0) return;
    this.timer = setInterval(() => void this.check(), Math.max(100, Math.floor(stallAfterMs / 2)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.checking;
  }

  /** Jobs of each printer published again at least once and still not moved. */
  stalledCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const w of this.watched.values()) if (w.tries > 0) counts.set(w.printerId, (counts.get(w.printerId) ?? 0) + 1);
    return counts;
  }

  /** One check at a time; a tick while one runs is skipped. */
  check(): Promise<void> {
    this.checking ??= this.run()
      .catch((err: unknown) => this.log.error({ err }, 'stall check failed'))
      .finally(() => (this.checking = null));
    return this.checking;
  }

  private noteSent(jobs: PrintJob[]): void {
    const { stallAfterMs } = this.options;
    if (stallAfterMs <= 0) return;
    const next = Date.now() + stallAfterMs;
    for (const job of jobs) {
      const last = this.watched.get(job.id);
      this.watched.set(job.id, {
        printerId: job.printerId,
        tries: last?.tries ?? 0,
        next: Math.max(next, last?.next ?? 0),
        since: last?.since ?? job.updatedAt,
      });
    }
  }

  private async run(): Promise<void> {
    const { stallAfterMs } = this.options;
    const now = Date.now();
    const stale = await this.jobs.queries.stale(new Date(now - stallAfterMs));
    // Jobs that moved, finished, or whose printer went offline drop out here.
    const watched = new Map<number, Watch>();
    for (const [printerId, all] of stale) {
      if (this.stopped) return;
      const due: PrintJob[] = [];
      for (const job of all) {
        const last = this.watched.get(job.id);
        if (last && now < last.next) {
          watched.set(job.id, last);
          continue;
        }
        const tries = (last?.tries ?? 0) + 1;
        watched.set(job.id, {
          printerId,
          tries,
          next: now + stallAfterMs * 2 ** Math.min(tries, 6),
          since: last?.since ?? job.updatedAt,
        });
        due.push(job);
      }
      if (!due.length) continue;
      if (!(await this.dispatcher.republishStalled(printerId, due))) {
        // Being re-published already, or another instance's printer: not a try of ours.
        for (const job of due) {
          const last = this.watched.get(job.id);
          if (last) watched.set(job.id, last);
          else watched.delete(job.id);
        }
        continue;
      }
      for (const job of due.slice(0, LOGGED_PER_PRINTER)) {
        const watch = watched.get(job.id)!;
        this.log.warn(
          {
            jobId: job.id,
            printerId,
            status: job.status,
            tries: watch.tries,
            stalledS: Math.round((now - Date.parse(watch.since)) / 1000),
          },
          'job has not moved: published again',
        );
      }
      if (due.length > LOGGED_PER_PRINTER)
        this.log.warn(
          { printerId, count: due.length, firstJobId: due[0]!.id, lastJobId: due.at(-1)!.id },
          'jobs have not moved: published again',
        );
      for (const job of due) this.emit('stalled', { jobId: job.id, printerId });
    }
    this.watched = watched;
    this.showStalled();
  }

  /** Announces printers whose stalled jobs (tried SHOW_AFTER_TRIES times) changed, so the page says so. */
  private showStalled(): void {
    const shown = new Map<string, StalledJobs>();
    for (const [jobId, w] of this.watched) {
      if (w.tries < SHOW_AFTER_TRIES) continue;
      const s = shown.get(w.printerId);
      if (!s) shown.set(w.printerId, { count: 1, firstJobId: jobId, since: w.since });
      else {
        s.count++;
        if (jobId < s.firstJobId) s.firstJobId = jobId;
        if (Date.parse(w.since) < Date.parse(s.since)) s.since = w.since;
      }
    }
    const changed = new Set<string>();
    for (const [printerId, s] of shown) {
      const before = this.shown.get(printerId);
      if (!before || before.count !== s.count || before.firstJobId !== s.firstJobId) changed.add(printerId);
    }
    for (const printerId of this.shown.keys()) if (!shown.has(printerId)) changed.add(printerId);
    this.shown = shown;
    for (const printerId of changed) {
      const s = shown.get(printerId);
      if (s) this.log.warn({ printerId, ...s }, 'jobs still not moving after several tries: shown as waiting');
      else this.log.info({ printerId }, 'no job of this printer is stalled any more');
      void this.printers
        .announce(printerId)
        .catch((err: unknown) => this.log.error({ err, printerId }, 'stalled jobs not announced'));
    }
  }
}
