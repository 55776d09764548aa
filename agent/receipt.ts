/** The receipt's bytes: ESC/POS built with `escpos`, from the layout shared with the page. */
import escpos from 'escpos';
import { CODE_PAGES, type CodePageName } from '../protocol/codepages';
import type { JobMessage } from '../protocol/messages';
import { layoutReceipt, layoutTestReceipt } from '../protocol/receipt-layout';

export interface ReceiptOptions {
  columns: number;
  codePage: CodePageName;
  timeZone?: string;
}

const ESC = 0x1b;
const FS = 0x1c;

/** `escpos` hands its buffer to an adapter on flush; this one just keeps it. */
class CaptureAdapter {
  chunks: Buffer[] = [];
  open(callback?: (error?: Error | null) => void) {
    callback?.(null);
    return this;
  }
  write(data: Buffer, callback?: (error?: Error | null) => void) {
    this.chunks.push(Buffer.from(data));
    callback?.(null);
    return this;
  }
  close(callback?: (error?: Error | null) => void) {
    callback?.(null);
    return this;
  }
}

export interface JobRenderOptions extends ReceiptOptions {
  /** `escpos` for receipt printers, `text` for a printing system such as CUPS. */
  format: 'escpos' | 'text';
  /** Shown on a test print. */
  printerId: string;
  agentVersion: string;
  printer: string;
}

/** The bytes for a job: its message, or for `kind: "test"` the test print, as ESC/POS or plain text. */
export function renderJob(job: Pick<JobMessage, 'content' | 'createdAt' | 'kind'>, options: JobRenderOptions): Buffer {
  const layout = { columns: options.columns, codePage: options.codePage, timeZone: options.timeZone };
  const lines =
    job.kind === 'test'
      ? layoutTestReceipt(
          {
            printerId: options.printerId,
            agentVersion: options.agentVersion,
            printer: options.printer,
            createdAt: job.createdAt,
          },
          layout,
        )
      : layoutReceipt(job, layout);
  // A printing system takes Unicode text and does its own fonts; the layout already removed control characters.
  if (options.format === 'text') return Buffer.from(lines.join('\n') + '\n', 'utf8');
  return renderLines(lines, options);
}

export function renderReceipt(job: Pick<JobMessage, 'content' | 'createdAt'>, options: ReceiptOptions): Buffer {
  return renderLines(
    layoutReceipt(job, { columns: options.columns, codePage: options.codePage, timeZone: options.timeZone }),
    options,
  );
}

function renderLines(lines: string[], options: ReceiptOptions): Buffer {
  const codePage = CODE_PAGES[options.codePage];
  const adapter = new CaptureAdapter();
  // `new` matters: without it escpos drops the options and encodes text as GB18030.
  const printer = new escpos.Printer(adapter, { encoding: codePage.iconv });
  printer
    .hardware('init') // ESC @
    .print(Buffer.from([FS, 0x2e])) // FS . : leave the Chinese (Kanji) mode cheap clones start in
    .print(Buffer.from([ESC, 0x74, codePage.escT])); // ESC t n : escpos has no call for it
  for (const line of lines) printer.text(line);
  printer.cut(false, 4);
  printer.flush();
  return Buffer.concat(adapter.chunks);
}
