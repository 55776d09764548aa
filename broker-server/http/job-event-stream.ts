/**
 * `GET /jobs/events`: every job change as `event: job` with the job's JSON and the `id:` of its entry in
 * the event log (`job_events`, written in the same transaction as the change), and every printer change
 * as `event: printer` (not logged, no id). A client that reconnects with `Last-Event-ID` (the header the
 * browser's EventSource sends by itself, or `?lastEventId=`) first gets every job change it missed, read
 * from the log in order, then the live ones: nothing is lost and nothing comes twice. Past the log's
 * window (EVENT_REPLAY_HOURS, or more than MAX_REPLAY_EVENTS behind), or with an id the log never gave,
 * it gets `event: resync`, telling it to read `GET /jobs` again, and goes on from now.
 *
 * Live changes come from the log too: the log's one reader (jobs/job-change-log.ts), woken by this
 * instance's commits and other instances' notices, reads what is new once for every stream (and for the
 * page). The log's ids grow in commit order (an advisory lock on PostgreSQL, see migration 0007), so
 * reading "after the last id" never skips a change that commits late.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../../config/logger';
import type { JobChangeLog } from '../jobs/job-change-log';
import type { JobEvent, JobService } from '../jobs/job-service';
import type { PrinterInfo, PrinterRegistry } from '../printers/printer-registry';
import type { SseWriter } from './sse-writer';

/** Events read from the log per query. */
const PAGE = 500;
/** A client further behind than this re-reads the jobs instead: cheaper than replaying them one by one. */
export const MAX_REPLAY_EVENTS = 10_000;

interface Client {
  res: Response;
  /** The id of the last event this client was sent (or would have been, had its job not been pruned). */
  cursor: number;
}

export type LastEventIdResult = { ok: true; id: number | null } | { ok: false; error: string };

/** The id of an event of this stream, as a client sends it back (`Last-Event-ID` or `?lastEventId=`). */
export const LastEventId = z
  .string()
  .trim()
  .regex(/^\d{1,15}$/)
  .meta({ description: 'The `id:` of the last event received; the changes after it are replayed first' });

/** The client's `Last-Event-ID` header, or `?lastEventId=` for clients that cannot set headers. */
export function parseLastEventId(req: Request): LastEventIdResult {
  const header = req.get('last-event-id');
  const query = req.query.lastEventId;
  const raw = header ?? (typeof query === 'string' ? query : undefined);
  if (raw === undefined || raw.trim() === '') return { ok: true, id: null };
  const parsed = LastEventId.safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      error: `Last-Event-ID must be the id of an event this stream sent (a whole number), not ${JSON.stringify(raw.trim().slice(0, 40))}`,
    };
  return { ok: true, id: Number(parsed.data) };
}

const jobMessage = (event: JobEvent): string =>
  event.job ? `id: ${event.id}\nevent: job\ndata: ${JSON.stringify(event.job)}\n\n` : `id: ${event.id}\n\n`;

export class JobEventStream {
  private readonly log: Logger;
  private readonly live = new Set<Client>();
  private catchingUp = 0;
  /** Stops following the log's reader; null while no stream is live. */
  private unfollow: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly jobs: JobService,
    private readonly changes: Pick<JobChangeLog, 'follow' | 'position'>,
    private readonly printers: PrinterRegistry,
    private readonly writer: SseWriter,
    private readonly options: { replayHours: number },
    log: Logger,
  ) {
    this.log = log.child({ module: 'job-events' });
  }

  /** Open streams right now, live or catching up. */
  get clientCount(): number {
    return this.live.size + this.catchingUp;
  }

  start(): void {
    this.printers.on('printer', this.onPrinter);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.printers.off('printer', this.onPrinter);
    this.writer.flush();
    for (const client of this.live) client.res.end();
    this.live.clear();
    this.followWhileLive();
  }

  /** Called when a stream is dropped for not reading. */
  forget(res: Response): void {
    for (const client of this.live) if (client.res === res) this.live.delete(client);
    this.followWhileLive();
  }

  /** Sends a comment to every live stream (keep-alive). */
  ping(message: string): void {
    for (const client of this.live) this.writer.send(client.res, message);
  }

  readonly handle = async (req: Request, res: Response): Promise<void> => {
    if (this.stopped) {
      res.status(503).json({ error: 'shutting down' });
      return;
    }
    const requested = parseLastEventId(req);
    if (!requested.ok) {
      res.status(400).json({ error: requested.error });
      return;
    }
    let bounds;
    try {
      bounds = await this.jobs.eventBounds();
    } catch (err) {
      this.log.error({ err }, 'event log not readable');
      res.status(503).json({ error: 'the event log cannot be read right now; try again' });
      return;
    }
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'close',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setKeepAlive(true);
    const client: Client = { res, cursor: bounds.last };
    let closed = false;
    res.on('close', () => {
      closed = true;
      this.live.delete(client);
      this.followWhileLive();
    });
    const from = requested.id;
    if (from === null) {
      // The id of "now", so that a client that drops before any change still resumes from here.
      res.write(`: connected\nid: ${bounds.last}\n\n`);
    } else if (from > bounds.last) {
      this.resync(client, 'unknown-event-id', from);
    } else if (
      from < bounds.last &&
      (bounds.first === null || from + 1 < bounds.first || bounds.last - from > MAX_REPLAY_EVENTS)
    ) {
      this.resync(client, 'outside-window', from);
    } else {
      client.cursor = from;
      res.write(': connected\n\n');
    }
    this.catchingUp++;
    try {
      await this.catchUp(client, () => closed);
      if (closed || this.stopped) return;
      // Level with the log's reader (catchUp): what it hands out from now on is what this client lacks.
      this.live.add(client);
      this.followWhileLive();
    } catch (err) {
      this.log.error({ err }, 'replay from the event log failed; the client will reconnect');
      res.end();
    } finally {
      this.catchingUp--;
    }
  };

  /** Reads the log from the client's cursor until it is level with the shared reader. */
  private async catchUp(client: Client, closed: () => boolean): Promise<void> {
    for (;;) {
      if (closed() || this.stopped) return;
      const page = await this.jobs.eventsAfter(client.cursor, PAGE);
      for (const event of page) {
        this.writer.send(client.res, jobMessage(event));
        client.cursor = event.id;
      }
      if (page.length < PAGE && client.cursor >= this.changes.position) return;
      await this.drained(client.res);
    }
  }

  /** Waits until what was queued for `res` has mostly left, so that a long replay is not held in memory. */
  private async drained(res: Response): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // the writer flushes on the next turn
    if (res.writableLength <= this.writer.maxBufferedBytes / 2 || res.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  private resync(client: Client, reason: 'unknown-event-id' | 'outside-window', lastEventId: number): void {
    this.log.info({ reason, lastEventId, current: client.cursor }, 'event stream client told to re-read');
    const data = {
      reason,
      lastEventId,
      reread: '/jobs',
      detail:
        reason === 'unknown-event-id'
          ? 'this id was never given by this server (a reset database?); read GET /jobs again, changes follow from now'
          : `the changes after this id are no longer all kept (EVENT_REPLAY_HOURS=${this.options.replayHours}, at most ${MAX_REPLAY_EVENTS} events); read GET /jobs again, changes follow from now`,
    };
    client.res.write(`id: ${client.cursor}\nevent: resync\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Follows the log's reader while some stream is live. */
  private followWhileLive(): void {
    if (this.live.size && !this.unfollow) this.unfollow = this.changes.follow(this.onEvents);
    else if (!this.live.size && this.unfollow) {
      this.unfollow();
      this.unfollow = null;
    }
  }

  private readonly onEvents = (events: JobEvent[]): void => {
    for (const event of events) {
      const message = jobMessage(event);
      for (const client of this.live)
        if (client.cursor < event.id) {
          this.writer.send(client.res, message);
          client.cursor = event.id;
        }
    }
  };

  private readonly onPrinter = (printer: PrinterInfo): void => {
    if (!this.live.size) return;
    const message = `event: printer\ndata: ${JSON.stringify(printer)}\n\n`;
    for (const client of this.live) this.writer.send(client.res, message);
  };
}
