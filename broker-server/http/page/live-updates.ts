/**
 * Live updates for the page over Server-Sent Events (htmx's hx-sse extension): each job change read from
 * the event log (jobs/job-change-log.ts, followed while a page is open) and each printer event becomes an
 * HTML fragment sent to every open page. A page that connects, or reconnects after a cut, first gets a
 * snapshot, so nothing it missed stays wrong on screen.
 */
import type { Request, Response } from 'express';
import type { Logger } from '../../../config/logger';
import type { JobChangeLog } from '../../jobs/job-change-log';
import type { JobEvent, JobService, PrintJob } from '../../jobs/job-service';
import type { PrinterInfo, PrinterRegistry } from '../../printers/printer-registry';
import type { SafeHtml } from './html';
import { jobUpdate, PAGE_JOB_COUNT, printersUpdate, snapshot } from './views';
import { SharedSnapshot } from './snapshot-batch';
import { JobEventStream, type ReplayLimits } from '../api/job-event-stream';
import { SseWriter } from '../api/sse-writer';

export interface LiveUpdatesOptions {
  defaultPrinterId: string;
  /** A comment line this often keeps proxies and the browser from dropping an idle stream. */
  heartbeatMs?: number;
  /** A page that lets this much pile up unread is dropped; it reconnects and gets a snapshot. */
  maxBufferedBytes?: number;
  /** How far back `GET /jobs/events` replays for a client that reconnects (EVENT_REPLAY_HOURS). */
  replayHours?: number;
  /** What one such replay may cost (EVENT_REPLAY_MAX_BYTES, _BUFFER_BYTES, EVENT_REPLAYS_PER_MINUTE, _BURST). */
  replay?: ReplayLimits;
}

/** One SSE message; every line of the fragment becomes a `data:` line (the browser joins them with \n). */
export function sseMessage(fragment: SafeHtml): string {
  return `${fragment.value
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n')}\n\n`;
}

export class LiveUpdates {
  private stopFollowingPrinters: () => void = () => undefined;
  private readonly log: Logger;
  private readonly streams = new Set<Response>();
  /** GET /jobs/events: the job changes from the event log, as JSON, for API clients and the benchmark. */
  private readonly jobEvents: JobEventStream;
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Stop following the log's reader (while pages are open) and hearing it grow. */
  private unfollow: (() => void) | null = null;
  private unwatch: (() => void) | null = null;
  private stopped = false;
  /** One write per stream per turn of the event loop, not one per message. */
  private readonly writer: SseWriter;
  /** Pages connecting while nothing changes share one snapshot, handed out a few at a time (snapshot-batch.ts). */
  private readonly snapshots = new SharedSnapshot(async () => {
    const [jobs, printers] = await Promise.all([this.jobs.list({ limit: PAGE_JOB_COUNT }), this.printers.list()]);
    return sseMessage(snapshot(jobs, printers, this.options.defaultPrinterId));
  });

  constructor(
    private readonly jobs: JobService,
    private readonly changes: Pick<JobChangeLog, 'follow' | 'onGrowth' | 'position'>,
    private readonly printers: PrinterRegistry,
    private readonly options: LiveUpdatesOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'live' });
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.writer = new SseWriter(options.maxBufferedBytes ?? 1024 * 1024, this.log, (res) => {
      this.removeStream(res);
      this.jobEvents.forget(res);
    });
    this.jobEvents = new JobEventStream(
      jobs,
      changes,
      printers,
      this.writer,
      { replayHours: options.replayHours ?? 24, replay: options.replay },
      log,
    );
  }

  /** Open pages right now. */
  get clientCount(): number {
    return this.streams.size;
  }

  /** Open GET /jobs/events streams right now. */
  get jsonClientCount(): number {
    return this.jobEvents.clientCount;
  }

  /** GET /jobs/events replays waiting for their reader to take what they sent. */
  get replaysWaiting(): number {
    return this.jobEvents.replaysWaiting;
  }

  start(): void {
    // As soon as the log grows (before it is read): a page connecting now must not get an older snapshot.
    this.unwatch = this.changes.onGrowth(() => this.snapshots.invalidate());
    this.stopFollowingPrinters = this.printers.events.on('printer', this.onPrinter);
    this.jobEvents.start();
    this.heartbeat = setInterval(() => {
      this.broadcast(': ping\n\n');
      this.jobEvents.ping(': ping\n\n');
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Ends every stream, so that the HTTP server can close without waiting for pages to leave. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    this.stopFollowingPrinters();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.writer.flush();
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.unfollow?.();
    this.unfollow = null;
    await this.jobEvents.stop();
  }

  /** GET /jobs/events (job-event-stream.ts). */
  get handleJson(): JobEventStream['handle'] {
    return this.jobEvents.handle;
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

  private removeStream(res: Response): void {
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
