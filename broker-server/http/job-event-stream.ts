/**
 * `GET /jobs/events`: every job change as `event: job` with the job's JSON and the `id:` of its entry in
 * the event log (`job_events`, written in the same transaction as the change), and every printer change
 * as `event: printer` (not logged, no id). A client that reconnects with `Last-Event-ID` (the header the
 * browser's EventSource sends by itself, or `?lastEventId=`) first gets every job change it missed, read
 * from the log in order, then the live ones: nothing is lost and nothing comes twice. Past the log's
 * window (EVENT_REPLAY_HOURS, or more than MAX_REPLAY_EVENTS behind), or with an id the log never gave,
 * it gets `event: resync`, telling it to read `GET /jobs` again, and goes on from now.
 *
 * Live changes come from the log too: each `job` event of the job service (this instance's commits and
 * other instances' notices) makes one shared reader fetch what is new after the last id it read, once
 * for every stream. The log's ids grow in commit order (an advisory lock on PostgreSQL, see migration
 * 0007), so reading "after the last id" never skips a change that commits late.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../../config/logger';
import type { JobEvent, JobService } from '../jobs/job-service';
import type { PrinterInfo, PrinterRegistry } from '../printers/printer-registry';
import { SerialRun } from '../serial-run';
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
  /** The id of the last event the shared reader fetched; null while no stream is live. */
  private tail: number | null = null;
  /** The shared reader: one read at a time; a signal while it reads makes it read once more when done. */
  private readonly tailReader = new SerialRun(
    () => this.readTail(),
    (err) => this.log.error({ err }, 'event log not read; the next change retries'),
  );
  private stopped = false;

  constructor(
    private readonly jobs: JobService,
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
    this.jobs.on('job', this.onJob);
    this.printers.on('printer', this.onPrinter);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.jobs.off('job', this.onJob);
    this.printers.off('printer', this.onPrinter);
    this.writer.flush();
    for (const client of this.live) client.res.end();
    this.live.clear();
    await this.tailReader.stop();
  }

  /** Called when a stream is dropped for not reading. */
  forget(res: Response): void {
    for (const client of this.live) if (client.res === res) this.live.delete(client);
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
      this.live.add(client);
      this.tail ??= client.cursor;
      // A change committed while the last page was read may have been signalled before this client joined.
      this.scheduleRead();
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
      if (page.length < PAGE && (this.tail === null || client.cursor >= this.tail)) return;
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

  private readonly onJob = (): void => {
    if (this.live.size) this.scheduleRead();
  };

  private readonly onPrinter = (printer: PrinterInfo): void => {
    if (!this.live.size) return;
    const message = `event: printer\ndata: ${JSON.stringify(printer)}\n\n`;
    for (const client of this.live) this.writer.send(client.res, message);
  };

  private scheduleRead(): void {
    this.tailReader.request();
  }

  private async readTail(): Promise<void> {
    for (;;) {
      if (this.tail === null || this.stopped) return;
      if (this.live.size === 0) {
        this.tail = null; // the next stream to go live sets it
        return;
      }
      const page = await this.jobs.eventsAfter(this.tail, PAGE);
      for (const event of page) {
        const message = jobMessage(event);
        for (const client of this.live)
          if (client.cursor < event.id) {
            this.writer.send(client.res, message);
            client.cursor = event.id;
          }
        this.tail = event.id;
      }
      if (page.length < PAGE) return;
    }
  }
}
