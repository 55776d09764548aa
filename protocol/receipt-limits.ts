/**
 * What one job may put on paper, shared by the server (which refuses a job before storing it) and the
 * agent (which refuses, as `failed`, a job that reached it some other way, e.g. published by hand).
 *
 * RECEIPT_MAX_LINES defaults to 200 lines, counted on the receipt as laid out for the printer's width
 * (title, date and rules included): about 85 cm of paper at font A's 4.23 mm a line. A full message of
 * 4,000 characters of prose takes about 93 lines on 80 mm paper (48 columns) and 136 on 58 mm (32), so any
 * ordinary message fits; "x\n" × 2,000 (2,006 lines, 7 to 8.5 m of paper) and "⒇" × 4,000 (16,000 characters
 * printed) do not. A message over the limit is refused whole, never cut.
 */
import type { CodePageName } from './codepages';
import { layoutReceipt, sanitizeContent } from './receipt-layout';

export const DEFAULT_RECEIPT_MAX_LINES = 200;

/** Blank once cleaned: nothing but spaces, zero-width and control characters would reach the paper. */
export function isBlankContent(content: string): boolean {
  return sanitizeContent(content).trim() === '';
}

export interface ReceiptLengthProblem {
  lines: number;
  maxLines: number;
  /** English, for the API and the agent's `failed` ack. */
  error: string;
  /** What the page shows. */
  errorFr: string;
}

/** Null when the laid-out receipt fits in `maxLines`. */
export function receiptLengthProblem(lines: number, maxLines: number, columns: number): ReceiptLengthProblem | null {
  if (lines <= maxLines) return null;
  const fr = (n: number) => n.toLocaleString('fr-FR');
  return {
    lines,
    maxLines,
    error: `the receipt would be ${lines} lines long on ${columns}-column paper; the limit is ${maxLines} (RECEIPT_MAX_LINES): shorten the message`,
    errorFr: `Ce message ferait ${fr(lines)} lignes de ticket : la limite est de ${fr(maxLines)}. Raccourcissez-le.`,
  };
}

/** The check the agent makes before printing a message job. */
export function checkReceiptLength(
  content: string,
  options: { columns: number; codePage: CodePageName; maxLines: number },
): ReceiptLengthProblem | null {
  const lines = layoutReceipt(
    { content, createdAt: new Date() },
    { columns: options.columns, codePage: options.codePage },
  ).length;
  return receiptLengthProblem(lines, options.maxLines, options.columns);
}
