/** The receipt's bytes: ESC/POS, from the layout shared with the page. */
import { CODE_PAGES, type CodePageName, encodedLength, encodeInto } from '../protocol/codepages';
import type { JobMessage } from '../protocol/messages';
import { layoutReceipt, layoutTestReceipt } from '../protocol/receipt-layout';

export interface ReceiptOptions {
  columns: number;
  codePage: CodePageName;
  timeZone?: string;
}

const ESC = 0x1b;
const FS = 0x1c;
const GS = 0x1d;
const LF = 0x0a;
/**
 * What `escpos` wrote around the lines (escpos 2.5: `hardware('init')`, then our two commands; `cut(false, 4)`):
 * ESC @ (reset), FS . (leave the Kanji mode cheap clones start in), ESC t n (the code page), … four line
 * feeds and GS V 0 (full cut). The same bytes, without building a printer object per receipt
 * (test/agent/receipt.unit.test.ts compares them with escpos's on generated receipts).
 */
const headerOf = (escT: number) => [ESC, 0x40, FS, 0x2e, ESC, 0x74, escT];
const FOOTER = [LF, LF, LF, LF, GS, 0x56, 0x00];

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
  return jobBytes(layoutJob(job, options), options);
}

/** A job's lines (what renderJob prints): the agent counts them against RECEIPT_MAX_LINES, then prints them. */
export function layoutJob(
  job: Pick<JobMessage, 'content' | 'createdAt' | 'kind'>,
  options: JobRenderOptions,
): string[] {
  const layout = { columns: options.columns, codePage: options.codePage, timeZone: options.timeZone };
  return job.kind === 'test'
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
}

/** The bytes of a job's lines (layoutJob). */
export function jobBytes(lines: string[], options: JobRenderOptions): Buffer {
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

/** Lines already laid out (in the code page's repertoire) as ESC/POS: reset, code page, the lines, a cut. */
export function renderLines(lines: string[], options: ReceiptOptions): Buffer {
  const codePage = CODE_PAGES[options.codePage];
  const header = headerOf(codePage.escT);
  let size = header.length + FOOTER.length;
  for (const line of lines) size += encodedLength(line) + 1;
  const bytes = Buffer.allocUnsafe(size);
  bytes.set(header, 0);
  let at = header.length;
  for (const line of lines) {
    at = encodeInto(codePage, line, bytes, at);
    bytes[at++] = LF;
  }
  bytes.set(FOOTER, at);
  return bytes;
}
