/**
 * Where a job enters: the use cases that create one (a message, a reprint, a test print), and the checks a
 * new message passes before it is stored (a known printer, a receipt that fits). Each use case stores the
 * job, then hands it to the dispatcher (not awaited: accepted means committed, and a publication that
 * fails leaves the job `pending`, to be re-published).
 */
import { type CodePageName, DEFAULT_CODE_PAGE, isCodePageName } from '../../protocol/codepages';
import { layoutReceipt, RECEIPT_TITLE } from '../../protocol/receipt-layout';
import { receiptLengthProblem } from '../../protocol/receipt-limits';
import { isPrinterId } from '../../protocol/topics';
import type { PrinterStatusList } from '../printers/printer-status-list';
import type { Dispatcher } from './dispatcher';
import { ReceiptTooLongError, UnknownPrinterError } from './job-errors';
import type { JobService, PrintJob } from './job-service';

/** What a test print's job shows as its content in lists; the agent prints its own test receipt. */
export const TEST_PRINT_CONTENT = 'Page de test';

/** A message laid out as the agent of `printerId` would print it now, on its reported paper and code page. */
export interface ReceiptLayout {
  lines: string[];
  columns: number;
  codePage: CodePageName;
  printerId: string;
}

export interface JobIntakeOptions {
  /** The printer of a message that names none (DEFAULT_PRINTER_ID). */
  defaultPrinterId: string;
  /** Paper width for a printer whose agent has not reported its own. */
  paperColumns: number;
  /** RECEIPT_MAX_LINES: a job that would lay out longer is refused whole, never cut. */
  receiptMaxLines: number;
}

/** The receipt's own lines around the message (rules, title, blank lines, date), at most, on any paper width. */
const FRAME_LINES_AT_MOST = 4 + RECEIPT_TITLE.length + 'Date: YYYY-MM-DD HH:MM'.length;
const PRINTABLE_ASCII_LINES = /^[\x20-\x7e\n]*$/;

/**
 * True when `content` cannot lay out longer than `maxLines` on any paper, without laying it out: printable
 * ASCII and newlines (every code page prints them as they are: no stand-in makes a character longer, no tab
 * grows), where a line of n characters wraps into at most n lines (each takes at least one of them) and an
 * empty line is one, so the message is at most its length + 1 lines. Most messages are short: they skip the
 * layout (and its date formatting), which the check needs only to count lines.
 */
export function surelyFits(content: string, maxLines: number): boolean {
  return FRAME_LINES_AT_MOST + content.length + 1 <= maxLines && PRINTABLE_ASCII_LINES.test(content);
}

export class JobIntake {
  constructor(
    private readonly jobs: JobService,
    private readonly dispatcher: Dispatcher,
    private readonly printers: Pick<PrinterStatusList, 'isKnown' | 'get' | 'list'>,
    readonly options: JobIntakeOptions,
  ) {}

  /**
   * Refuses a message that may not be stored: an unknown printer (UnknownPrinterError), or a receipt
   * longer than RECEIPT_MAX_LINES on that printer's paper (ReceiptTooLongError). Resolves to its printer.
   */
  async check(printerId: string | undefined, content: string): Promise<string> {
    const id = printerId ?? this.options.defaultPrinterId;
    if (!(await this.printers.isKnown(id)))
      throw new UnknownPrinterError(
        id,
        (await this.printers.list()).map((p) => p.id),
      );
    if (!surelyFits(content, this.options.receiptMaxLines)) this.checkLength(await this.layout(content, id));
    return id;
  }

  /** A receipt that lays out longer than RECEIPT_MAX_LINES is refused whole (ReceiptTooLongError). */
  checkLength(receipt: ReceiptLayout): void {
    const tooLong = receiptLengthProblem(receipt.lines.length, this.options.receiptMaxLines, receipt.columns);
    if (tooLong) throw new ReceiptTooLongError(tooLong);
  }

  /** The receipt `content` makes on `printerId` (unknown or absent: the default printer), for the preview and the checks. */
  async layout(content: string, printerId: string | undefined): Promise<ReceiptLayout> {
    const id =
      printerId && isPrinterId(printerId) && (await this.printers.isKnown(printerId))
        ? printerId
        : this.options.defaultPrinterId;
    const printer = await this.printers.get(id);
    const columns = printer?.columns ?? this.options.paperColumns;
    const codePage = printer?.codepage && isCodePageName(printer.codepage) ? printer.codepage : DEFAULT_CODE_PAGE;
    return {
      lines: layoutReceipt({ content, createdAt: new Date() }, { columns, codePage }),
      columns,
      codePage,
      printerId: id,
    };
  }

  print(printerId: string, content: string, createdBy?: string): Promise<PrintJob> {
    return this.publish(this.jobs.create({ printerId, content, createdBy }));
  }

  /** A new job with the same content; JobError `job-not-found` or `not-reprintable` when absent or not finished. */
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
