/**
 * What the jobs' use cases refuse, as typed errors: each names its kind, never a transport's status. HTTP
 * maps the kinds to statuses in one place (http/guards/errors.ts); the page says them in French
 * (http/page/error-text.ts).
 */
import type { ReceiptLengthProblem } from '../../protocol/receipt-limits';

export type JobErrorKind = 'job-not-found' | 'not-reprintable' | 'unknown-printer' | 'receipt-too-long';

export class JobError extends Error {
  constructor(
    readonly kind: JobErrorKind,
    message: string,
    /** What an API answer shows beside the message (e.g. `field`). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'JobError';
  }
}

export class UnknownPrinterError extends JobError {
  constructor(
    readonly printerId: string,
    readonly knownPrinters: string[],
  ) {
    super('unknown-printer', `unknown printer "${printerId}"; known printers: ${knownPrinters.join(', ')}`, {
      field: 'printerId',
      knownPrinters,
    });
  }
}

/** A receipt longer than RECEIPT_MAX_LINES on its printer's paper: refused whole, never cut. */
export class ReceiptTooLongError extends JobError {
  constructor(readonly problem: ReceiptLengthProblem) {
    super('receipt-too-long', problem.error, { field: 'content', lines: problem.lines, maxLines: problem.maxLines });
  }
}
