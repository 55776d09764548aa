/**
 * `GET /jobs/events`: every job change as `event: job` with the job's JSON and the `id:` of its entry in
 * the event log (`job_events`, written in the same transaction as the change), and every printer change
 * as `event: printer` (not logged, no id). A client that reconnects with `Last-Event-ID` (the header the
 * browser's EventSource sends by itself, or `?lastEventId=`) first gets every job change it missed, read
 * from the log in order, then the live ones: nothing is lost and nothing comes twice. Past the log's
 * window (EVENT_REPLAY_HOURS, or more than MAX_REPLAY_EVENTS behind), or with an id the log never gave,
 * it gets `event: resync`, telling it to read `GET /jobs` again, and goes on from now.
 *
 * A replay is bounded by bytes, not rows (issue 20): it reads the log a short page at a time and writes
 * each event to the socket itself, waiting for the socket to drain below the stream's budget
 * (EVENT_REPLAY_BUFFER_BYTES) before it writes, or reads, more; one replay sends at most
 * EVENT_REPLAY_MAX_BYTES, then `event: resync` and the stream goes on from now; and each caller (API key, or
 * address) may start EVENT_REPLAYS_PER_MINUTE replays (429 beyond). A client that stops reading holds one
 * page of rows and its budget, never the log.
 *
 * Live changes come from the log too: the log's one reader (jobs/job-change-log.ts), woken by this
 * instance's commits and other instances' notices, reads what is new once for every stream (and for the
 * page). The log's ids grow in commit order (an advisory lock on PostgreSQL, see migration 0007), so
 * reading "after the last id" never skips a change that commits late.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../../../runtime/logger';
import type { JobChangeLog } from '../../jobs/job-change-log';
import type { JobEvent, JobService } from '../../jobs/job-service';
import type { PrinterInfo, PrinterStatusList } from '../../printers/printer-status-list';
import { uidTag } from '../../store/job-rules';
import { JOB_STATUSES, type JobStatus } from '../../../protocol/states';
import { callerOf } from './api-keys';
import { TokenBuckets } from '../guards/rate-limit';
import type { SseWriter } from './sse-writer';

/** A client further behind than this re-reads the jobs instead: cheaper than replaying them one by one. */
export const MAX_REPLAY_EVENTS = 10_000;
/** Events read from the log per query while replaying: at most ~25 KB each (4,000 characters JSON-escaped). */
export const REPLAY_PAGE = 50;

/** What one replay may cost (EVENT_REPLAY_*). */
export interface ReplayLimits {
  /** What one replay sends at most; past it, `event: resync`. */
  maxBytes: number;
  /** Written but not yet taken by the socket: past it, the replay waits for `drain` before going on. */
  bufferBytes: number;
  /** Replays one caller may start: `burst` at once, then `perMinute`; 0 per minute is no limit. */
  perMinute: number;
  burst: number;
}

export const DEFAULT_REPLAY_LIMITS: ReplayLimits = {
  maxBytes: 8 * 1024 * 1024,
  bufferBytes: 256 * 1024,
  perMinute: 6,
  burst: 10,
};

type ResyncReason = 'unknown-event-id' | 'outside-window' | 'replay-too-large' | 'other-database';

interface Client {
  res: Response;
  /** The id of the last event this client was sent (or would have been, had its job not been pruned or filtered out). */
  cursor: number;
  /** `?status=`: the job statuses this client wants; null, every change. */
  statuses: ReadonlySet<JobStatus> | null;
}

/** Whether the client wants this change: any, or one of its statuses (a change whose job was pruned has none). */
const wants = (client: Client, event: JobEvent): boolean =>
  client.statuses === null || (event.job !== null && client.statuses.has(event.job.status));

/** One status of `?status=`, spaces around it allowed. */
const STATUS_WORD = `\\s*(?:${JOB_STATUSES.join('|')})\\s*`;

/** `?status=`: the one check of it, and how GET /openapi.json describes it. */
export const StatusFilter = z
  .string()
  .regex(new RegExp(`^${STATUS_WORD}(?:,${STATUS_WORD})*$`))
  .meta({
    description:
      'Only the job changes to these statuses, separated by commas (`printed,failed,interrupted`: the outcomes); printer changes are all sent. Absent: every change',
  });

export type StatusFilterResult = { ok: true; statuses: ReadonlySet<JobStatus> | null } | { ok: false; error: string };

/**
 * `?status=printed,failed,interrupted`: only the changes to those statuses (a client that waits for outcomes need
 * not be sent, nor make the server write, every step). Absent: every change.
 */
export function parseStatusFilter(req: Request): StatusFilterResult {
  const raw = req.query.status;
  if (raw === undefined) return { ok: true, statuses: null };
  const text = Array.isArray(raw) ? raw.join(',') : String(raw); // `?status=a&status=b` is `a,b`
  const parsed = StatusFilter.safeParse(text);
  if (!parsed.success)
    return {
      ok: false,
      error: `status must be job statuses separated by commas (${JOB_STATUSES.join(', ')}), not ${JSON.stringify(text.slice(0, 80))}`,
    };
  return { ok: true, statuses: new Set(parsed.data.split(',').map((word) => word.trim() as JobStatus)) };
}

export type LastEventIdResult = { ok: true; id: number | null; tag: string | null } | { ok: false; error: string };

/**
 * The id of an event of this stream, as a client sends it back (`Last-Event-ID` or `?lastEventId=`): the
 * event's number in the log, and after a dot 8 random hex digits of its job's uid. Numbers are handed out
 * again when the database is replaced or restored from a backup; the tag tells such a number apart from the
 * one the client saw (DESIGN.md, "Replaced or restored database").
 */
export const LastEventId = z
  .string()
  .trim()
  .regex(/^\d{1,15}(\.[0-9a-f]{8})?$/)
  .meta({
    description:
      'The `id:` of the last event received (`N.tag`, or `N` alone); the changes after it are replayed first',
  });

/** The tag of an event's id: 8 random hex digits of its job's uid (`uidTag`; none once the job is pruned). */
export function eventTag(event: JobEvent): string | null {
  const uid = event.job?.uid;
  return uid ? uidTag(uid) : null;
}

/** An event's `id:` as this stream sends it. */
export function eventIdOf(event: JobEvent): string {
  const tag = eventTag(event);
  return tag ? `${event.id}.${tag}` : String(event.id);
}

/** The client's `Last-Event-ID` header, or `?lastEventId=` for clients that cannot set headers. */
export function parseLastEventId(req: Request): LastEventIdResult {
  const header = req.get('last-event-id');
  const query = req.query.lastEventId;
  const raw = header ?? (typeof query === 'string' ? query : undefined);
  if (raw === undefined || raw.trim() === '') return { ok: true, id: null, tag: null };
  const parsed = LastEventId.safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      error: `Last-Event-ID must be the id of an event this stream sent (a whole number, and a dot and 8 hex digits after it), not ${JSON.stringify(raw.trim().slice(0, 40))}`,
    };
  const [id, tag] = parsed.data.split('.');
  return { ok: true, id: Number(id), tag: tag ?? null };
}

const jobMessage = (event: JobEvent): string =>
  event.job ? `id: ${eventIdOf(event)}\nevent: job\ndata: ${JSON.stringify(event.job)}\n\n` : `id: ${event.id}\n\n`;

export class JobEventStream {
  private stopFollowingPrinters: () => void = () => undefined;
  private readonly log: Logger;
  private readonly live = new Set<Client>();
  private catchingUp = 0;
  /** Stops following the log's reader; null while no stream is live. */
  private unfollow: (() => void) | null = null;
  private stopped = false;
  private readonly replayRate: TokenBuckets;
  private readonly replay: ReplayLimits;
  /** Replays waiting for their socket to drain (a slow or stopped reader). */
  private waiting = 0;

  constructor(
    private readonly jobs: JobService,
    private readonly changes: Pick<JobChangeLog, 'follow' | 'position'>,
    private readonly printers: PrinterStatusList,
    private readonly writer: SseWriter,
    private readonly options: { replayMs: number; replay?: ReplayLimits },
    log: Logger,
  ) {
    this.log = log.child({ module: 'job-events' });
    this.replay = options.replay ?? DEFAULT_REPLAY_LIMITS;
    this.replayRate = new TokenBuckets({ perMinute: this.replay.perMinute, burst: this.replay.burst });
  }

  /** Replays held back right now until their reader takes what they already sent. */
  get replaysWaiting(): number {
    return this.waiting;
  }

  /** Open streams right now, live or catching up. */
  get clientCount(): number {
    return this.live.size + this.catchingUp;
  }

  start(): void {
    this.stopFollowingPrinters = this.printers.events.on('printer', this.onPrinter);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopFollowingPrinters();
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
    const filter = parseStatusFilter(req);
    if (!requested.ok || !filter.ok) {
      res.status(400).json({ error: !requested.ok ? requested.error : !filter.ok ? filter.error : '' });
      return;
    }
    let bounds;
    try {
      bounds = await this.jobs.queries.eventBounds();
    } catch (err) {
      this.log.error({ err }, 'event log not readable');
      res.status(503).json({ error: 'the event log cannot be read right now; try again' });
      return;
    }
    if (requested.id !== null && requested.id < bounds.last) {
      const caller = callerOf(res);
      const who = caller.kind === 'api-key' ? `api-key:${caller.name}` : `address:${req.ip ?? 'unknown'}`;
      const decision = this.replayRate.take(who);
      if (!decision.ok) {
        this.log.warn({ caller: who, retryAfterSeconds: decision.retryAfterSeconds }, 'event replay rate limited');
        res
          .status(429)
          .set('Retry-After', String(decision.retryAfterSeconds))
          .type('text')
          .send(
            `too many replays of the event log from you (EVENT_REPLAYS_PER_MINUTE=${this.replay.perMinute}); try again in ${decision.retryAfterSeconds} s, or connect without Last-Event-ID\n`,
          );
        return;
      }
    }
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'close',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setKeepAlive(true);
    const client: Client = { res, cursor: bounds.last, statuses: filter.statuses };
    let closed = false;
    res.on('close', () => {
      closed = true;
      this.live.delete(client);
      this.followWhileLive();
    });
    const from = requested.id;
    if (from === null) {
      // The id of "now", so that a client that drops before any change still resumes from here.
      res.write(`: connected\nid: ${await this.idOf(bounds.last)}\n\n`);
    } else if (from > bounds.last) {
      await this.resync(client, 'unknown-event-id', from);
    } else if (
      from < bounds.last &&
      (bounds.first === null || from + 1 < bounds.first || bounds.last - from > MAX_REPLAY_EVENTS)
    ) {
      await this.resync(client, 'outside-window', from);
    } else if (requested.tag !== null && (await this.otherDatabase(from, requested.tag))) {
      await this.resync(client, 'other-database', from);
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

  /**
   * Reads the log from the client's cursor until it is level with the shared reader, a short page at a
   * time, each event written straight to the socket: past the stream's budget it waits for the socket to
   * drain, and past what one replay may send it tells the client to re-read and goes on from now.
   */
  private async catchUp(client: Client, closed: () => boolean): Promise<void> {
    const gone = () => closed() || this.stopped || client.res.destroyed;
    let sent = 0;
    for (;;) {
      if (gone()) return;
      const page = await this.jobs.queries.eventsAfter(client.cursor, REPLAY_PAGE);
      for (const event of page) {
        if (gone()) return;
        if (!wants(client, event)) {
          client.cursor = event.id;
          continue;
        }
        const message = jobMessage(event);
        const bytes = Buffer.byteLength(message);
        if (sent + bytes > this.replay.maxBytes) {
          const from = client.cursor;
          client.cursor = Math.max(client.cursor, (await this.jobs.queries.eventBounds()).last);
          await this.resync(client, 'replay-too-large', from);
          sent = 0;
          break;
        }
        client.res.write(message);
        sent += bytes;
        client.cursor = event.id;
        if (client.res.writableLength > this.replay.bufferBytes) await this.drained(client.res);
      }
      if (page.length < REPLAY_PAGE && client.cursor >= this.changes.position) return;
    }
  }

  /** Waits until the socket has taken what was written to `res` (or is gone). */
  private async drained(res: Response): Promise<void> {
    if (!res.writableNeedDrain || res.destroyed) return;
    this.waiting++;
    try {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    } finally {
      this.waiting--;
    }
  }

  /**
   * Whether event `id` of this log is not the one the client saw (its tag differs): the database was replaced
   * or restored since, and the number handed out again. An event no longer kept cannot be checked: the
   * window's own rule applies to it.
   */
  private async otherDatabase(id: number, tag: string): Promise<boolean> {
    const [event] = await this.jobs.queries.eventsAfter(id - 1, 1);
    if (!event || event.id !== id) return false;
    const ours = eventTag(event);
    return ours !== null && ours !== tag;
  }

  /** The `id:` of event `n` as this stream sends it (tagged, when the log still has it and its job). */
  private async idOf(n: number): Promise<string> {
    if (n <= 0) return String(n);
    const [event] = await this.jobs.queries.eventsAfter(n - 1, 1);
    return event && event.id === n ? eventIdOf(event) : String(n);
  }

  private async resync(client: Client, reason: ResyncReason, lastEventId: number): Promise<void> {
    this.log.info({ reason, lastEventId, current: client.cursor }, 'event stream client told to re-read');
    const detail: Record<ResyncReason, string> = {
      'unknown-event-id':
        'this id was never given by this server (a reset database?); read GET /jobs again, changes follow from now',
      'outside-window': `the changes after this id are no longer all kept (EVENT_REPLAY_HOURS=${this.options.replayMs / 3_600_000}, at most ${MAX_REPLAY_EVENTS} events); read GET /jobs again, changes follow from now`,
      'replay-too-large': `the changes after this id are more than one replay sends (EVENT_REPLAY_MAX_BYTES=${this.replay.maxBytes}); read GET /jobs again, changes follow from now`,
      'other-database':
        'this id now names another change: the database was replaced or restored from a backup since; read GET /jobs again, changes follow from now',
    };
    const data = { reason, lastEventId, reread: '/jobs', detail: detail[reason] };
    client.res.write(`id: ${await this.idOf(client.cursor)}\nevent: resync\ndata: ${JSON.stringify(data)}\n\n`);
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
      let message: string | null = null; // made once, for the first client that wants it
      for (const client of this.live)
        if (client.cursor < event.id) {
          if (wants(client, event)) this.writer.send(client.res, (message ??= jobMessage(event)));
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
