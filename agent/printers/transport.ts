/** One interface for every way bytes reach a printer. Transports know nothing of MQTT or jobs. */
import type { StatusReport } from './status';

export type { StatusReport } from './status';

export interface PrinterConnection {
  /**
   * Resolves once the printing system took the bytes; `reference` is its own id for them, if it has one.
   * `job` names the document for spoolers that show one (CUPS, Windows): `printhop-job-<id>`.
   */
  write(bytes: Buffer, job?: { id: number }): Promise<void | { reference?: string }>;
  close(): Promise<void>;
}

export interface PrinterTransport {
  /** What the logs and the status topic call this printer, e.g. `file:/tmp/out.prn`. */
  readonly description: string;
  /** `escpos`: receipts as ESC/POS bytes; `text`: plain UTF-8 lines for a printing system (CUPS). */
  readonly format?: 'escpos' | 'text';
  /**
   * A connection can carry several jobs one after another, and close() only releases it (it says
   * nothing more about the bytes than each write did): the agent keeps it open across a burst of jobs.
   * Not for a printer whose close confirms the job (TCP: the printer's FIN), nor one asked its status
   * on a connection of its own (one open at a time, for many).
   */
  readonly holdsOpen?: boolean;
  /** Opens the printer. Failing here means no byte reached it, so the job can safely wait and retry. */
  open(): Promise<PrinterConnection>;
  /**
   * Only where the printer can answer (TCP 9100, /dev/usb/lp0): asks DLE EOT 1/2/4 on a connection of
   * its own, closed before it resolves. Never rejects: no answer is `unknown`, no printer `unavailable`.
   */
  queryStatus?(): Promise<StatusReport>;
}

/** The printer could not be reached; nothing was sent. */
export class PrinterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PrinterUnavailableError';
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
