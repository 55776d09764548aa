/**
 * `windows:PRINTER NAME`: the receipt's ESC/POS bytes to a printer of the Windows spooler as a RAW
 * document named `printhop-job-<id>` (the default printer when the name is empty). A printer that
 * cannot be opened means nothing was sent (the job waits and retries); a failed write, an
 * interrupted job. The spooler's status bits (GetPrinterW) are the printer's status.
 */
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError, type StatusReport } from './transport';
import { loadWinspool, type Spooler, SpoolerError, spoolerStatus } from './winspool';

export class WindowsPrinter implements PrinterTransport {
  readonly description: string;
  readonly format = 'escpos';
  private spooler: Spooler | null = null;

  constructor(
    private readonly name: string,
    readonly timeoutMs: number,
    /** The spooler, loaded (koffi, winspool.drv) on first use; a fake in the tests of the rules. */
    private readonly loadSpooler: () => Spooler = loadWinspool,
  ) {
    this.description = `windows:${name || '(default printer)'}`;
  }

  private getSpooler(): Spooler {
    try {
      return (this.spooler ??= this.loadSpooler());
    } catch (err) {
      throw new PrinterUnavailableError(`cannot use the Windows spooler: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The configured name, or the default printer's. */
  private printerName(spooler: Spooler): string {
    if (this.name) return this.name;
    const name = spooler.defaultPrinter();
    if (!name)
      throw new PrinterUnavailableError(
        'PRINTER=windows: names no printer and Windows has no default printer: set one, or write its name after windows:',
      );
    return name;
  }

  private async openTarget() {
    const spooler = this.getSpooler();
    const name = this.printerName(spooler);
    try {
      return { name, target: await spooler.open(name) };
    } catch (err) {
      throw new PrinterUnavailableError(`cannot open the Windows printer "${name}": ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async open(): Promise<PrinterConnection> {
    const { target } = await this.openTarget();
    return {
      write: async (bytes: Buffer, job?: { id: number }) => {
        try {
          const spoolerJob = await target.printRaw(job ? `printhop-job-${job.id}` : 'printhop-job', bytes);
          return { reference: String(spoolerJob) };
        } catch (err) {
          throw err instanceof SpoolerError
            ? new Error(`the Windows spooler refused the receipt: ${err.message}`, { cause: err })
            : err;
        }
      },
      close: async () => target.close(),
    };
  }

  /** GetPrinterW level 2 on a handle of its own; never rejects. */
  async queryStatus(): Promise<StatusReport> {
    let opened;
    try {
      opened = await this.openTarget();
    } catch (err) {
      return { condition: 'unavailable', detail: (err as Error).message };
    }
    try {
      return spoolerStatus({ ...opened.target.info(), name: opened.name });
    } catch (err) {
      return {
        condition: 'unknown',
        detail: `the Windows spooler did not say how ${opened.name} is: ${(err as Error).message}`,
      };
    } finally {
      opened.target.close();
    }
  }
}
