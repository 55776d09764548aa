/**
 * Where a job enters: the use cases that create one (a message, a reprint, a test print). Each stores the
 * job, then hands it to the dispatcher (not awaited: accepted means committed, and a publication that
 * fails leaves the job `pending`, to be re-published).
 */
import type { Dispatcher } from './dispatcher';
import type { JobService, PrintJob } from './job-service';

/** What a test print's job shows as its content in lists; the agent prints its own test receipt. */
export const TEST_PRINT_CONTENT = 'Page de test';

export class JobIntake {
  constructor(
    private readonly jobs: JobService,
    private readonly dispatcher: Dispatcher,
  ) {}

  print(printerId: string, content: string, createdBy?: string): Promise<PrintJob> {
    return this.publish(this.jobs.create({ printerId, content, createdBy }));
  }

  /** A new job with the same content; JobError 404 or 409 when the job is absent or not finished. */
  reprint(id: number, createdBy?: string): Promise<PrintJob> {
    return this.publish(this.jobs.reprint(id, createdBy));
  }

  /** A test print is a job like any other (stored, published, journaled, acknowledged): exactly once too. */
  testPrint(printerId: string, createdBy?: string): Promise<PrintJob> {
    return this.publish(this.jobs.create({ printerId, content: TEST_PRINT_CONTENT, kind: 'test', createdBy }));
  }

  private async publish(creating: Promise<PrintJob>): Promise<PrintJob> {
    const job = await creating;
    void this.dispatcher.publish(job);
    return job;
  }
}
