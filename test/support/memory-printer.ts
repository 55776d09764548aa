/** A printer transport in memory: keeps the bytes, and can be absent, fail mid-write or run out of paper. */
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError } from '../../agent/printers';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import type { StatusReport } from '../../agent/printers/transport';
import type { PrinterCondition } from '../../protocol/messages';

export class MemoryPrinter implements PrinterTransport {
  readonly description = 'memory:test';
  readonly format = 'escpos' as const;
  /** Each write's bytes, in order. */
  readonly writes: Buffer[] = [];
  /** The next this many opens fail as an absent printer does (nothing sent). */
  unavailableOpens = 0;
  /** The next write fails after it started, as a printer that dies mid-receipt. */
  failNextWrite: Error | null = null;
  /** What the printer answers to a status request; only set for printers that can answer (`answersStatus`). */
  condition: PrinterCondition = 'ok';
  queryStatus?: () => Promise<StatusReport>;
  opens = 0;
  closes = 0;
  statusQueries = 0;
  /** How long each write takes, as a real printer's does; 0: at once. */
  writeDelayMs = 0;
  /** As the virtual printer (a file): one connection takes job after job. */
  readonly holdsOpen: boolean;

  constructor(
    private readonly steps: string[] = [],
    options: { answersStatus?: boolean; holdsOpen?: boolean } = {},
  ) {
    this.holdsOpen = options.holdsOpen ?? false;
    if (options.answersStatus) {
      this.queryStatus = () => {
        this.statusQueries++;
        return Promise.resolve({ condition: this.condition, detail: `the memory printer is ${this.condition}` });
      };
    }
  }

  open(): Promise<PrinterConnection> {
    this.opens++;
    if (this.unavailableOpens > 0) {
      this.unavailableOpens--;
      this.steps.push('printer absent');
      return Promise.reject(new PrinterUnavailableError('no printer at memory:test'));
    }
    this.steps.push('printer open');
    return Promise.resolve({
      write: (bytes: Buffer) => {
        const error = this.failNextWrite;
        this.failNextWrite = null;
        this.steps.push(error ? 'bytes failed' : 'bytes');
        if (error) return Promise.reject(error);
        this.writes.push(bytes);
        return this.writeDelayMs
          ? new Promise<void>((resolve) => setTimeout(resolve, this.writeDelayMs))
          : Promise.resolve();
      },
      close: () => {
        this.closes++;
        this.steps.push('printer close');
        return Promise.resolve();
      },
    });
  }

  /** The text of every receipt printed. */
  receipts(): string[] {
    return decodeEscPos(Buffer.concat(this.writes)).receipts.map((r) => r.text);
  }
}
