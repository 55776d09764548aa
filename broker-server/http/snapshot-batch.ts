/**
 * Many pages connecting at once (a restart, a reconnect storm, or a flood) must not each read the
 * database and render the snapshot in the same turn of the event loop. Requests that arrive before a
 * snapshot starts share it (one read, one render for the whole batch), and the waiting streams are
 * handed it `chunk` at a time with setImmediate in between, so other requests are answered meanwhile.
 *
 * A request joins only a batch that has not started yet: its stream is already listening for changes,
 * so the snapshot it gets is at least as new as anything it may have missed.
 */
export class SnapshotBatch<T> {
  private waiting: Array<{ resolve: (value: T) => void; reject: (err: unknown) => void }> | null = null;

  constructor(
    private readonly compute: () => Promise<T>,
    private readonly chunk = 50,
  ) {}

  next(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.waiting) {
        this.waiting.push({ resolve, reject });
        return;
      }
      const batch = [{ resolve, reject }];
      this.waiting = batch;
      setImmediate(() => {
        this.waiting = null;
        this.compute().then(
          (value) => this.handOut(batch, (w) => w.resolve(value)),
          (err: unknown) => this.handOut(batch, (w) => w.reject(err)),
        );
      });
    });
  }

  private handOut<W>(batch: W[], each: (w: W) => void): void {
    let i = 0;
    const step = () => {
      const end = Math.min(batch.length, i + this.chunk);
      for (; i < end; i++) each(batch[i]!);
      if (i < batch.length) setImmediate(step);
    };
    step();
  }
}
