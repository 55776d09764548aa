/**
 * Live updates for the page over Server-Sent Events (htmx's hx-sse extension): each job change read from
 * the event log (jobs/job-change-log.ts, followed while a page is open) and each printer event becomes an
 * HTML fragment sent to every open page. A page that connects, or reconnects after a cut, first gets a
 * snapshot, so nothing it missed stays wrong on screen.
 */
import type { Request, Response } from 'express';
import type { Logger } from '../../../runtime/logger';
import type { JobChangeLog } from '../../jobs/job-change-log';
import type { JobEvent, JobService, PrintJob } from '../../jobs/job-service';
import type { PrinterInfo, PrinterStatusList } from '../../printers/printer-status-list';
import type { SafeHtml } from './html';
import { jobUpdate, PAGE_JOB_COUNT, printersUpdate, snapshot } from './views';
import { SharedSnapshot } from './snapshot-batch';
import type { SseWriter } from '../api/sse-writer';

export interface PageUpdatesOptions {
  defaultPrinterId: string;
}

/** One SSE message; every line of the fragment becomes a `data:` line (the browser joins them with \n). */
export function sseMessage(fragment: SafeHtml): string {
  return `${fragment.value
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n')}\n\n`;
}

export class PageUpdates {
  private stopFollowingPrinters: () => void = () => undefined;
  private readonly log: Logger;
  private readonly streams = new Set<Response>();
  /** Stop following the log's reader (while pages are open) and hearing it grow. */
  private unfollow: (() => void) | null = null;
  private unwatch: (() => void) | null = null;
  private stopped = false;
  /** Pages connecting while nothing changes share one snapshot, handed out a few at a time (snapshot-batch.ts). */
  private readonly snapshots = new SharedSnapshot(async () => {
    const [jobs, printers] = await Promise.all([
      this.jobs.queries.list({ limit: PAGE_JOB_COUNT }),
      this.printers.list(),
    ]);
    return sseMessage(snapshot(jobs, printers, this.options.defaultPrinterId));
  });

  constructor(
    private readonly jobs: JobService,
    private readonly changes: Pick<JobChangeLog, 'follow' | 'onGrowth' | 'position'>,
    private readonly printers: PrinterStatusList,
    /** Shared with GET /jobs/events: one write per stream per turn of the event loop, not one per message. */
    private readonly writer: SseWriter,
    private readonly options: PageUpdatesOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'live' });
  }

  /** Open pages right now. */
  get clientCount(): number {
    return this.streams.size;
  }

  start(): void {
    // As soon as the log grows (before it is read): a page connecting now must not get an older snapshot.
    this.unwatch = this.changes.onGrowth(() => this.snapshots.invalidate());
    this.stopFollowingPrinters = this.printers.events.on('printer', this.onPrinter);
  }

  /** A comment line to every open page (the heartbeat that keeps proxies from dropping an idle stream). */
  ping(message: string): void {
    this.broadcast(message);
  }

  /** Ends every stream, so that the HTTP server can close without waiting for pages to leave. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    this.stopFollowingPrinters();
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.unfollow?.();
    this.unfollow = null;
  }

  /** GET /events */
  readonly handle = async (req: Request, res: Response): Promise<void> => {
    if (this.stopped) {
      res.status(503).type('text').send('shutting down');
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // Each stream owns its connection, so that ending it at stop() closes the socket too.
      Connection: 'close',
      'X-Accel-Buffering': 'no',
    });
    // Listening before reading the snapshot: a change made meanwhile is sent after it, never lost.
    this.streams.add(res);
    this.unfollow ??= this.changes.follow(this.onEvents);
    res.on('close', () => this.removeStream(res));
    req.socket.setKeepAlive(true);
    try {
      this.writer.send(res, await this.snapshots.get());
    } catch (err) {
      this.log.error({ err }, 'snapshot failed; the page will reconnect');
      this.removeStream(res);
      res.end();
    }
  };

  /** A page's stream is gone (closed, or dropped by the writer for not reading). */
  removeStream(res: Response): void {
    this.streams.delete(res);
    if (this.streams.size || !this.unfollow) return;
    this.unfollow();
    this.unfollow = null;
  }

  /** One fragment per job per page of the log: its latest state (the page's list replaces a job's row). */
  private readonly onEvents = (events: JobEvent[]): void => {
    if (!this.streams.size) return;
    const latest = new Map<number, PrintJob>();
    for (const { job } of events) if (job) latest.set(job.id, job);
    for (const job of latest.values()) this.broadcast(sseMessage(jobUpdate(job)));
  };

  private readonly onPrinter = (printer: PrinterInfo): void => {
    this.snapshots.invalidate();
    if (this.streams.size === 0) return;
    // The whole (short) list, so that the form's printer selector follows too.
    this.printers.list().then(
      (printers) => this.broadcast(sseMessage(printersUpdate(printers, this.options.defaultPrinterId))),
      (err: unknown) => this.log.error({ err, printerId: printer.id }, 'printer update not sent'),
    );
  };

  private broadcast(message: string): void {
    for (const res of this.streams) this.writer.send(res, message);
  }
}
