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
import { sanitizeContent } from './receipt-layout';

export const DEFAULT_RECEIPT_MAX_LINES = 200;

/**
 * Characters that show nothing: white space, controls, format characters (bidi marks and overrides, the
 * Mongolian vowel separator, tags), private use, lone surrogates, Unicode's default-ignorable code points
 * (soft hyphen, combining grapheme joiner, Hangul fillers, variation selectors), and the blank-looking
 * braille pattern and object replacement character.
 */
const INVISIBLE_CHARACTER = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Default_Ignorable_Code_Point}\u2800\ufffc]$/u;

/** Blank: no character that shows (above), or nothing but spaces once cleaned as the agent cleans it. */
export function isBlankContent(content: string): boolean {
  let visible = false;
  for (const char of content)
    if (!INVISIBLE_CHARACTER.test(char)) {
      visible = true;
      break;
    }
  return !visible || sanitizeContent(content).trim() === '';
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
