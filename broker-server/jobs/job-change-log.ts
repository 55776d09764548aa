/**
 * The one reader of the job event log (`job_events`, written by triggers in the same transaction as each
 * change): the one way a change travels to those who follow jobs (DESIGN.md). Woken by "the log now
 * reaches event N" — this instance's commits (the store, after COMMIT) and other instances' (NOTIFY,
 * cluster/event-log-notices.ts) — it reads what is new after the last event it read, once, in commit
 * order, and hands each page to its followers: the page's live stream and `GET /jobs/events`
 * (http/page/page-updates.ts, http/api/job-event-stream.ts). Webhooks keep their own cursors in the database and
 * are only woken (`onGrowth`). A wake-up of this instance's SQLite store carries the committed events it read
 * anyway: when they start where the reader stands, they are the next page, handed on without reading the log.
 *
 * It reads only while someone follows; meanwhile it just moves its position to the newest id it heard of,
 * so a follower that joins gets the changes committed from then on (what came before is the follower's
 * snapshot or replay).
 */
import type { Part } from '../../runtime/lifecycle';
import type { Logger } from '../../runtime/logger';
import { SerialRun } from '../serial-run';
import type { CommittedEvents, JobEvent, JobEventBounds } from './model/print-job';

/** Events read from the log per query. */
const PAGE = 500;

/** The log as the store gives it, and its wake-up after each commit of this instance. */
export interface EventLog {
  eventsAfter(afterId: number, limit: number): Promise<JobEvent[]>;
  eventBounds(): Promise<JobEventBounds>;
  onCommitted(listener: (lastEventId: number, events?: CommittedEvents) => void): void;
}

/** Other instances' wake-ups (cluster/event-log-notices.ts): the newest id, or null when some may have been missed. */
export interface OtherWriters {
  start(): Promise<void>;
  stop(): Promise<void>;
  onNotice(listener: (lastEventId: number | null) => void): void;
}

/** One instance alone on its database (SQLite): nobody else writes the log. */
const ALONE: OtherWriters = { start: async () => undefined, stop: async () => undefined, onNotice: () => undefined };

/** Gets each page of new events, in order; must not throw. */
export type ChangeFollower = (events: JobEvent[]) => void;

export class JobChangeLog implements Part {
  readonly name = 'job change log';
  private readonly log: Logger;
  /** The newest event id known to be committed. */
  private heard = 0;
  /** The id of the last event handed to the followers (or passed while nobody followed). */
  private read = 0;
  /** A wake-up without an id: the next run asks the log how far it reaches. */
  private unknown = false;
  private readonly followers = new Set<ChangeFollower>();
  private readonly growthListeners = new Set<() => void>();
  private readonly reader = new SerialRun(
    () => this.readNew(),
    (err) => this.log.error({ err }, 'job event log not read; the next change retries'),
  );
  private stopped = false;
  /** A read of the log is under way (its page will move `read`). */
  private reading = false;

  constructor(
    private readonly events: EventLog,
    log: Logger,
    private readonly others: OtherWriters = ALONE,
  ) {
    this.log = log.child({ module: 'change-log' });
  }

  async start(): Promise<void> {
    this.events.onCommitted((id, events) => this.heardOf(id, events));
    this.others.onNotice((id) => this.heardOf(id));
    // Listening before looking: a change committed in between is heard, not lost.
    await this.others.start();
    const { last } = await this.events.eventBounds();
    this.read = Math.max(this.read, last);
    this.heard = Math.max(this.heard, last);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.followers.clear();
    await this.reader.stop();
    await this.others.stop();
  }

  /** The id of the last event handed to the followers: a follower that has read the log up to here may join. */
  get position(): number {
    return this.read;
  }

  /** `follower` gets every page read from now on; returns what stops it. */
  follow(follower: ChangeFollower): () => void {
    this.followers.add(follower);
    return () => void this.followers.delete(follower);
  }

  /** `listener` is called, without reading anything, each time the log grows; returns what stops it. */
  onGrowth(listener: () => void): () => void {
    this.growthListeners.add(listener);
    return () => void this.growthListeners.delete(listener);
  }

  /** Up to `limit` events after `afterId`, for the readers that keep a cursor of their own (webhooks). */
  eventsAfter(afterId: number, limit: number): Promise<JobEvent[]> {
    return this.events.eventsAfter(afterId, limit);
  }

  eventBounds(): Promise<JobEventBounds> {
    return this.events.eventBounds();
  }

  private heardOf(id: number | null, handed?: CommittedEvents): void {
    if (this.stopped) return;
    if (id === null) this.unknown = true;
    else if (id > this.heard) this.heard = id;
    else return;
    for (const listener of this.growthListeners) listener();
    // The store read these committed events anyway: when they start exactly where the followers stand, and
    // no read is under way, they are the next page, handed on without reading the log. Otherwise (a gap:
    // another writer, a notice, a pruned log, a read in flight) the reader reads as usual.
    if (
      handed &&
      id !== null &&
      !this.reading &&
      !this.unknown &&
      this.followers.size > 0 &&
      handed.after === this.read &&
      handed.events.at(-1)?.id === id
    ) {
      this.read = id;
      for (const follower of this.followers) follower(handed.events);
    }
    if (this.read < this.heard || this.unknown) this.reader.request();
  }

  private async readNew(): Promise<void> {
    this.reading = true;
    try {
      await this.readPages();
    } finally {
      this.reading = false;
    }
  }

  private async readPages(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if (this.unknown) {
        this.unknown = false;
        this.heard = Math.max(this.heard, (await this.events.eventBounds()).last);
      }
      if (!this.followers.size) {
        this.read = Math.max(this.read, this.heard);
        return;
      }
      if (this.read >= this.heard) return;
      const page = await this.events.eventsAfter(this.read, PAGE);
      if (this.stopped) return;
      if (!page.length) {
        this.read = this.heard; // pruned meanwhile: nothing left to hand out below it
        return;
      }
      this.read = page.at(-1)!.id;
      this.heard = Math.max(this.heard, this.read);
      for (const follower of this.followers) follower(page);
    }
  }
}
