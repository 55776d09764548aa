/**
 * Group commit: writes that arrive while a transaction is being written wait and share the next one,
 * so a burst of N jobs costs a handful of commits instead of N; writes of one tick of the event loop
 * (the acks of one socket read) share one. Every promise resolves after COMMIT, so `201` and every status
 * change still mean "committed".
 *
 * A deferrable write (a job's `sent` mark, DESIGN.md "Exactly once") starts no commit of its own: it
 * rides with the next batch of other writes, or is committed on its own after DEFER_MS when none comes.
 *
 * This queue and its ordering rules live here once; each store only writes a batch.
 */
import type { NewJob, TransitionRequest } from './print-store';

/** Statements stay well under SQLite's limit of 32,766 bound parameters (PostgreSQL's is 65,535). */
const MAX_BATCH = 1000;

/** The longest a deferrable write waits for other writes to ride with. */
export const DEFER_MS = 100;

interface WrittenBatch<Row> {
  inserted: Row[];
  updated: Array<Array<Row | null>>;
}

/** Writes `inserts` and then each round of `rounds` in one transaction; rows come back in the order asked (null: not applied). */
type BatchWriter<Row> = (inserts: NewJob[], rounds: TransitionRequest[][]) => Promise<WrittenBatch<Row>>;

type Pending<Row> =
  | { kind: 'insert'; job: NewJob; deferrable: false; resolve: (row: Row) => void; reject: (err: unknown) => void }
  | {
      kind: 'transition';
      request: TransitionRequest;
      deferrable: boolean;
      resolve: (row: Row | null) => void;
      reject: (err: unknown) => void;
    };

/**
 * Each batch runs in one transaction: the inserts, then the transitions in rounds where each job appears
 * at most once, so that transitions of one job apply in arrival order (an ack must not overtake the
 * `sent` queued before it).
 */
export class GroupCommit<Row> {
  private queue: Array<Pending<Row>> = [];
  private flushing = false;
  /** A flush is scheduled for the end of this tick. */
  private scheduled = false;
  /** Writes in the queue that want a commit now (not deferrable). */
  private urgent = 0;
  /** The deadline of the oldest deferrable write waiting, and whether it has passed. */
  private deferTimer: NodeJS.Timeout | null = null;
  private due = false;

  constructor(private readonly writeBatch: BatchWriter<Row>) {}

  insert(job: NewJob): Promise<Row> {
    return new Promise((resolve, reject) => this.push({ kind: 'insert', job, deferrable: false, resolve, reject }));
  }

  /** `deferrable`: commit it with the next batch of other writes, or within DEFER_MS. */
  transition(request: TransitionRequest, deferrable = false): Promise<Row | null> {
    return new Promise((resolve, reject) => this.push({ kind: 'transition', request, deferrable, resolve, reject }));
  }

  get backlog(): number {
    return this.queue.length;
  }

  private push(item: Pending<Row>): void {
    this.queue.push(item);
    if (item.deferrable) {
      this.deferTimer ??= setTimeout(() => {
        this.deferTimer = null;
        this.due = true;
        this.schedule();
      }, DEFER_MS);
    } else {
      this.urgent++;
      this.schedule();
    }
  }

  /** Flushes at the end of this tick, so that the writes of one tick share a commit. */
  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length && (this.urgent > 0 || this.due)) {
        const batch = this.queue.splice(0, MAX_BATCH);
        for (const item of batch) if (!item.deferrable) this.urgent--;
        if (!this.queue.some((item) => item.deferrable)) {
          // Every deferrable write rides with this batch.
          this.due = false;
          if (this.deferTimer) clearTimeout(this.deferTimer);
          this.deferTimer = null;
        }
        try {
          const settle = await this.commit(batch);
          settle();
        } catch (err) {
          for (const item of batch) item.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes one batch in one transaction; returns what to resolve once it is committed. */
  private async commit(batch: Array<Pending<Row>>): Promise<() => void> {
    type Insert = Extract<Pending<Row>, { kind: 'insert' }>;
    type Transition = Extract<Pending<Row>, { kind: 'transition' }>;
    const inserts = batch.filter((p): p is Insert => p.kind === 'insert');
    const transitions = batch.filter((p): p is Transition => p.kind === 'transition');
    const rounds: Transition[][] = [];
    let rest = transitions;
    while (rest.length) {
      const seen = new Set<number>();
      const round: Transition[] = [];
      const later: Transition[] = [];
      for (const p of rest) {
        (seen.has(p.request.id) ? later : round).push(p);
        seen.add(p.request.id);
      }
      rounds.push(round);
      rest = later;
    }
    const { inserted, updated } = await this.writeBatch(
      inserts.map((p) => p.job),
      rounds.map((round) => round.map((p) => p.request)),
    );
    return () => {
      inserts.forEach((p, i) => p.resolve(inserted[i]!));
      rounds.forEach((round, r) => round.forEach((p, i) => p.resolve(updated[r]![i] ?? null)));
    };
  }
}
