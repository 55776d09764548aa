/**
 * Many pages connecting at once (a restart, a reconnect storm, or a flood) must not each read the
 * database and render the snapshot, nor be written all in one turn of the event loop. So the snapshot
 * is shared and handed out a few at a time:
 *
 * - one read and render serves every page that asks while nothing has changed: each job or printer
 *   event (`invalidate()`) starts a new generation, and a snapshot is reused, or an unfinished one joined,
 *   only within the generation it started in (and for `maxAgeMs` at most, as the page shows times of day);
 * - a page whose snapshot turned out older than a change made meanwhile gets a newer one (its stream
 *   listens before asking, so it never misses a change);
 * - waiting pages get it `chunk` at a time, with setImmediate in between, so other requests are answered.
 */
export interface SharedSnapshotOptions {
  maxAgeMs?: number;
  chunk?: number;
  now?: () => number;
}

export class SharedSnapshot<T> {
  private generation = 0;
  private current: { generation: number; at: number; value: Promise<T> } | null = null;
  private readonly queue: Array<() => void> = [];
  private draining = false;
  private readonly maxAgeMs: number;
  private readonly chunk: number;
  private readonly now: () => number;

  constructor(
    private readonly compute: () => Promise<T>,
    options: SharedSnapshotOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 5000;
    this.chunk = options.chunk ?? 50;
    this.now = options.now ?? Date.now;
  }

  /** Something the snapshot shows has changed. */
  invalidate(): void {
    this.generation++;
  }

  /** A snapshot at least as new as every change made before the call. */
  async get(): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const generation = this.generation;
      let current = this.current;
      if (!current || current.generation !== generation || this.now() - current.at > this.maxAgeMs) {
        const fresh = { generation, at: this.now(), value: this.compute() };
        fresh.value.catch(() => {
          if (this.current === fresh) this.current = null;
        });
        this.current = current = fresh;
      }
      const value = await current.value;
      await this.turn();
      if (this.generation === current.generation || attempt >= 2) return value;
    }
  }

  /** Resolves in turn, `chunk` callers per turn of the event loop. */
  private turn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queue.push(resolve);
      if (this.draining) return;
      this.draining = true;
      const drain = () => {
        for (const next of this.queue.splice(0, this.chunk)) next();
        if (this.queue.length) setImmediate(drain);
        else this.draining = false;
      };
      setImmediate(drain);
    });
  }
}
