/** One interface for every way bytes reach a printer. Transports know nothing of MQTT or jobs. */

export interface PrinterConnection {
  write(bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface PrinterTransport {
  /** What the logs and the status topic call this printer, e.g. `file:/tmp/out.prn`. */
  readonly description: string;
  /** Opens the printer. Failing here means no byte reached it, so the job can safely wait and retry. */
  open(): Promise<PrinterConnection>;
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
