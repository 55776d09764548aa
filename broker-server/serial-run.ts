/**
 * A task that runs one at a time, however often it is asked for: asked while it runs, it runs once more
 * when done, so that what changed meanwhile is picked up, and a burst of requests costs one or two runs.
 * A failure goes to `onError`; the next request runs it again. Used by the readers that follow the job
 * event log (jobs/job-change-log.ts, webhooks/webhook-dispatcher.ts).
 */
export class SerialRun {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.again = false;
    this.running = this.task()
      .catch(this.onError)
      .finally(() => {
        this.running = null;
        if (this.again) this.request();
      });
  }

  /** No run starts from now on; resolves when the one under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
