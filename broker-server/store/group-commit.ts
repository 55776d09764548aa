/**
 * Group commit: writes that arrive while a transaction is being written wait and share the next one,
 * so a burst of N jobs costs a handful of commits instead of N. Every promise resolves after COMMIT,
 * so `201` and every status change still mean "committed".
 *
 * This queue and its ordering rules live here once; each store only writes a batch.
 */
import type { NewJob, TransitionRequest } from './job-store';

/** Statements stay well under SQLite's limit of 32,766 bound parameters (PostgreSQL's is 65,535). */
const MAX_BATCH = 1000;

interface WrittenBatch<Row> {
  inserted: Row[];
  updated: Array<Array<Row | null>>;
}

/** Writes `inserts` and then each round of `rounds` in one transaction; rows come back in the order asked (null: not applied). */
type BatchWriter<Row> = (inserts: NewJob[], rounds: TransitionRequest[][]) => Promise<WrittenBatch<Row>>;

type Pending<Row> =
  | { kind: 'insert'; job: NewJob; resolve: (row: Row) => void; reject: (err: unknown) => void }
  | {
      kind: 'transition';
      request: TransitionRequest;
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

  constructor(private readonly writeBatch: BatchWriter<Row>) {}

  insert(job: NewJob): Promise<Row> {
    return new Promise((resolve, reject) => this.push({ kind: 'insert', job, resolve, reject }));
  }

  transition(request: TransitionRequest): Promise<Row | null> {
    return new Promise((resolve, reject) => this.push({ kind: 'transition', request, resolve, reject }));
  }

  get backlog(): number {
    return this.queue.length;
  }

  private push(item: Pending<Row>): void {
    this.queue.push(item);
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
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
