/**
 * The two live streams a server keeps open, side by side: the page's (GET /events, HTML fragments for htmx:
 * page/page-updates.ts) and the API's (GET /jobs/events, JSON with Last-Event-ID replay:
 * api/job-event-stream.ts). They share one writer (one socket write per stream per turn of the event loop)
 * and one heartbeat, and stop together as HTTP stops.
 */
import type { Logger } from '../../runtime/logger';
import type { JobChangeLog } from '../jobs/job-change-log';
import type { JobService } from '../jobs/job-service';
import type { PrinterStatusList } from '../printers/printer-status-list';
import { JobEventStream, type ReplayLimits } from './api/job-event-stream';
import { SseWriter } from './api/sse-writer';
import { PageUpdates } from './page/page-updates';

export interface LiveStreamsOptions {
  defaultPrinterId: string;
  /** A comment line this often keeps proxies and the browser from dropping an idle stream. */
  heartbeatMs?: number;
  /** A reader that lets this much pile up unread is dropped; it reconnects (a page gets a snapshot). */
  maxBufferedBytes?: number;
  /** How far back `GET /jobs/events` replays for a client that reconnects (EVENT_REPLAY_HOURS, in ms). */
  replayMs?: number;
  /** What one such replay may cost (EVENT_REPLAY_MAX_BYTES, _BUFFER_BYTES, EVENT_REPLAYS_PER_MINUTE, _BURST). */
  replay?: ReplayLimits;
}

export class LiveStreams {
  /** GET /events: the page's live updates. */
  readonly page: PageUpdates;
  /** GET /jobs/events: the job changes from the event log, as JSON, for API clients and the benchmark. */
  readonly jobEvents: JobEventStream;
  private readonly writer: SseWriter;
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    jobs: JobService,
    changes: Pick<JobChangeLog, 'follow' | 'onGrowth' | 'position'>,
    printers: PrinterStatusList,
    options: LiveStreamsOptions,
    log: Logger,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.writer = new SseWriter(options.maxBufferedBytes ?? 1024 * 1024, log.child({ module: 'live' }), (res) => {
      this.page.removeStream(res);
      this.jobEvents.forget(res);
    });
    this.page = new PageUpdates(jobs, changes, printers, this.writer, options, log);
    this.jobEvents = new JobEventStream(
      jobs,
      changes,
      printers,
      this.writer,
      { replayMs: options.replayMs ?? 24 * 3_600_000, replay: options.replay },
      log,
    );
  }

  /** Open pages right now. */
  get clientCount(): number {
    return this.page.clientCount;
  }

  /** Open GET /jobs/events streams right now. */
  get jsonClientCount(): number {
    return this.jobEvents.clientCount;
  }

  /** GET /jobs/events replays waiting for their reader to take what they sent. */
  get replaysWaiting(): number {
    return this.jobEvents.replaysWaiting;
  }

  /** GET /events */
  get handle(): PageUpdates['handle'] {
    return this.page.handle;
  }

  /** GET /jobs/events */
  get handleJson(): JobEventStream['handle'] {
    return this.jobEvents.handle;
  }

  start(): void {
    this.page.start();
    this.jobEvents.start();
    this.heartbeat = setInterval(() => {
      this.page.ping(': ping\n\n');
      this.jobEvents.ping(': ping\n\n');
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Ends every stream, so that the HTTP server can close without waiting for readers to leave. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.writer.flush();
    await this.page.stop();
    await this.jobEvents.stop();
  }
}
